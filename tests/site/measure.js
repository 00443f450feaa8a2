// Everything the layout tests check on one page, measured once (tests/site/conftest.py runs it
// after the page, its images and its equations have loaded). Sizes are CSS pixels.
async () => {
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const lazy = [...document.images];
  lazy.forEach(i => { i.loading = "eager"; });
  await Promise.all(lazy.map(i => i.decode().catch(() => null)));
  if (window.MathJax && MathJax.Hub) await new Promise(done => MathJax.Hub.Queue(done));

  const de = document.documentElement;
  const rect = el => el.getBoundingClientRect();
  const visible = el => el.offsetParent !== null && rect(el).width > 0;
  const column = document.querySelector(".md-content__inner");
  const columnRect = column ? rect(column) : null;
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  // Is `el` cut off at the side? The first of its ancestors (inside the content column) that
  // does not let it overflow decides: one that scrolls shows all of it; one that hides the
  // overflow cuts off what sticks out. With none, what sticks out of the column is cut off.
  const cutOff = el => {
    const r = rect(el);
    for (let e = el.parentElement; e && e !== column; e = e.parentElement) {
      if (getComputedStyle(e).overflowX === "visible") continue;
      if (scrolls(e)) return false;
      return r.right > rect(e).right + 1 || r.left < rect(e).left - 1;
    }
    return columnRect !== null && (r.right > columnRect.right + 1 || r.left < columnRect.left - 1);
  };

  const figures = [...document.querySelectorAll(".jp-OutputArea-output img")].map(img => ({
    src: img.getAttribute("src").slice(0, 60),
    natural: img.naturalWidth,
    stated: Number(img.getAttribute("width")) || img.naturalWidth,
    naturalHeight: img.naturalHeight,
    shown: rect(img).width,
    loaded: img.complete && img.naturalWidth > 0,
    // shown wider than its box is fine when that box scrolls
    overflowsUnscrolled: cutOff(img),
  }));

  const probe = pre => {
    const span = document.createElement("span");
    span.textContent = "0".repeat(100);
    pre.appendChild(span);
    const w = span.getBoundingClientRect().width / 100;
    span.remove();
    return w;
  };
  const inputs = [...document.querySelectorAll(".jp-InputArea-editor pre")];
  const charWidth = inputs.length ? probe(inputs[0]) : 0;
  const padding = el => { const s = getComputedStyle(el); return parseFloat(s.paddingLeft) + parseFloat(s.paddingRight); };
  const code = inputs.map(pre => {
    const button = pre.closest(".CodeMirror").querySelector("clipboard-copy");
    const b = button ? rect(button) : null, p = rect(pre);
    const over = b && b.width > 0 && b.left < p.right && b.right > p.left && b.top < p.bottom && b.bottom > p.top;
    return {
      longest: Math.max(...pre.textContent.split("\n").map(l => l.length)),
      columns: charWidth ? Math.floor((pre.clientWidth - padding(pre)) / charWidth) : 0,
      scrolls: pre.scrollWidth > pre.clientWidth + 1,
      buttonOverCode: Boolean(over),
      head: pre.textContent.slice(0, 50),
    };
  });

  // a printed table wraps when its <pre> is taller than its lines
  const printed = [...document.querySelectorAll(".jp-OutputArea-output pre")].map(pre => {
    const lines = pre.textContent.replace(/\n+$/, "").split("\n").length;
    const lh = parseFloat(getComputedStyle(pre).lineHeight) || 16;
    const s = getComputedStyle(pre), vertical = parseFloat(s.paddingTop) + parseFloat(s.paddingBottom);
    return {lines, wraps: pre.clientHeight - vertical > (lines + 0.5) * lh,
            head: pre.textContent.slice(0, 50)};
  }).filter(p => p.lines < 400);

  const math = [...document.querySelectorAll(".MathJax_Display, .MathJax_SVG_Display, mjx-container[display='true']")].map(box => {
    const inner = box.firstElementChild || box;
    const script = box.nextElementSibling;  // MathJax 2 keeps the TeX source beside the display
    return {
      text: (script && script.textContent || "").slice(0, 60),
      width: rect(inner).width, box: rect(box).width,
      clipped: cutOff(inner),
    };
  });

  const toc = [...document.querySelectorAll("nav a.md-nav__link[href^='#']")].map(a => a.getAttribute("href"));
  const deadAnchors = toc.filter(h => h.length > 1 && !document.getElementById(decodeURIComponent(h.slice(1))));

  const signatures = [...document.querySelectorAll(".doc-signature")].map(s => {
    const boxes = [s, ...s.querySelectorAll("pre, code")];
    return {scrolls: boxes.some(b => b.scrollWidth > b.clientWidth + 1),
            head: s.textContent.slice(0, 60)};
  });

  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const colab = [...document.querySelectorAll("a[href*='colab.research.google.com']")].map(a => ({
    href: a.href, image: a.querySelector("img") ? a.querySelector("img").src : ""}));
  const h1 = document.querySelector("h1");
  return {
    title: h1 ? h1.innerText : "",
    navLinks: [...document.querySelectorAll("nav a.md-nav__link[href]")].map(a => a.href),
    colab,
    pageScrollsSideways: de.scrollWidth > de.clientWidth + 1 || document.body.scrollWidth > de.clientWidth + 1,
    column: columnRect ? columnRect.width : 0,
    charWidth, figures, code, printed, math, deadAnchors, signatures,
    tagsShown: [...document.querySelectorAll(".celltoolbar, .cell-tag")].filter(visible).length,
    htmlBytes: nav ? nav.encodedBodySize : 0,
    loadBytes: (nav ? nav.encodedBodySize : 0) + resources.reduce((s, r) => s + r.encodedBodySize, 0),
  };
}
