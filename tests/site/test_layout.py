"""The site as a student sees it, at a laptop's 1280 px and a phone's 390 px: every page fits
its width, figures stay readable, code, printed tables and equations are whole, lesson pages
are light. Each page is loaded once per width (the `reports` fixture, conftest.py) and measured
by measure.js; the tests below read those measurements."""
import pytest
from sitepages import CODE_COLUMNS, WIDTHS

MIN_FIGURE_SCALE = 0.6   # no figure shown below 60% of its natural width on a laptop
MAX_LESSON_HTML = 500_000  # bytes of HTML per lesson page


def _each(reports, widths=tuple(WIDTHS)):
    return [(w, path, r) for (w, path), r in sorted(reports.items()) if w in widths]


def _fail(problems):
    assert not problems, "\n".join(problems)


def test_no_page_scrolls_sideways(reports):
    _fail([f"{w}: {path or 'home'} scrolls sideways"
           for w, path, r in _each(reports) if r["pageScrollsSideways"]])


def test_figures_are_loaded_and_readable(reports):
    problems = []
    for w, path, r in _each(reports):
        for fig in r["figures"]:
            if not fig["loaded"]:
                problems.append(f"{w}: {path}: a figure did not load: {fig['src']}")
                continue
            scale = fig["shown"] / fig["stated"]
            if w == "laptop" and scale < MIN_FIGURE_SCALE:
                problems.append(f"{w}: {path}: {fig['src']} ({fig['stated']} px) is shown at "
                                f"{fig['shown']:.0f} px, {scale:.0%} of its natural width")
            if fig["overflowsUnscrolled"]:
                problems.append(f"{w}: {path}: {fig['src']} is cut off (no scroll bar)")
        if path.startswith("lessons/") and not r["figures"]:
            problems.append(f"{w}: {path}: a lesson page without a single figure")
    _fail(problems)


def test_display_math_is_not_clipped(reports):
    _fail([f"{w}: {path}: an equation is cut off ({m['width']:.0f} px in a {m['box']:.0f} px box "
           f"that does not scroll), before {m['text']!r}"
           for w, path, r in _each(reports) for m in r["math"] if m["clipped"]])


def test_lesson_code_fits_the_column_on_a_laptop(reports):
    problems = []
    for w, path, r in _each(reports, ("laptop",)):
        for block in r["code"]:
            if block["columns"] < CODE_COLUMNS:
                problems.append(f"{path}: a code block shows {block['columns']} characters a line, "
                                f"fewer than {CODE_COLUMNS}: {block['head']!r}")
            if block["scrolls"] and block["longest"] <= block["columns"]:
                problems.append(f"{path}: a code block scrolls sideways although its longest line "
                                f"({block['longest']}) fits: {block['head']!r}")
    _fail(problems)


def test_the_copy_button_is_not_over_the_code(reports):
    _fail([f"{w}: {path}: the copy button covers the code of {block['head']!r}"
           for w, path, r in _each(reports) for block in r["code"] if block["buttonOverCode"]])


def test_printed_tables_do_not_wrap(reports):
    _fail([f"{w}: {path}: a printed output of {p['lines']} lines wraps: {p['head']!r}"
           for w, path, r in _each(reports) for p in r["printed"] if p["wraps"]])


def test_cell_tags_are_not_shown(reports, site_dir):
    _fail([f"{w}: {path}: {r['tagsShown']} cell tags shown"
           for w, path, r in _each(reports) if r["tagsShown"]])
    for html in site_dir.glob("lessons/*/index.html"):
        assert 'class="cell-tag"' not in html.read_text(), f"{html}: cell tags in the HTML"


def test_every_table_of_contents_link_leads_to_its_heading(reports):
    _fail([f"{w}: {path or 'home'}: dead anchors {r['deadAnchors']}"
           for w, path, r in _each(reports) if r["deadAnchors"]])


def test_api_signatures_fit_the_column_on_a_laptop(reports):
    problems = []
    for w, path, r in _each(reports, ("laptop",)):
        if path.startswith("api/") and path != "api/":
            assert r["signatures"], f"{path}: no signatures found (did mkdocstrings change?)"
        problems += [f"{path}: a signature runs past the column: {s['head']!r}"
                     for s in r["signatures"] if s["scrolls"]]
    _fail(problems)


def test_lesson_pages_are_light(reports, capsys):
    weights = {path: r["htmlBytes"] for w, path, r in _each(reports, ("laptop",))
               if path.startswith("lessons/")}
    assert weights and all(weights.values()), weights
    with capsys.disabled():
        first = reports[("laptop", "lessons/00_setup/")]["loadBytes"]
        low, high = min(weights.values()) / 1e3, max(weights.values()) / 1e3
        print(f"\nlesson HTML: {low:.0f}-{high:.0f} KB; a first load of lesson 00 "
              f"(every figure): {first / 1e6:.2f} MB")
    _fail([f"{path}: {size / 1e3:.0f} KB of HTML (at most {MAX_LESSON_HTML / 1e3:.0f} KB)"
           for path, size in weights.items() if size > MAX_LESSON_HTML])


@pytest.mark.parametrize("width", list(WIDTHS))
def test_each_page_has_a_screenshot(reports, artifacts, width):
    shots = list((artifacts / "screenshots").glob(f"*-{WIDTHS[width]}.jpg"))
    assert len(shots) == len({p for w, p in reports if w == width}), shots


def test_the_instructor_guide_renders_its_lists(site_dir):
    """A list item after an indented code block needs a blank line before it, or Markdown
    folds the rest of the list into one paragraph with literal '- '."""
    html = (site_dir / "instructor-guide" / "index.html").read_text()
    body = html[html.index('<article'):html.index('</article>')]
    assert "; -" not in body and "\n- " not in body, "a list rendered as one paragraph"
    start = body.index("In the student version")
    items = body[start:body.index("</ul>", start)].count("<li>")
    assert items == 6, f"the list of what `minivision assignment` does has {items} items, not 6"


def test_a_returns_section_is_one_row_however_many_lines_it_wraps_over(site_dir):
    html = (site_dir / "api" / "layers" / "index.html").read_text()
    start = html.index('id="minivision.layers.Attention.forward"')
    returns = html.index("Returns:", start)
    section = html[returns:html.index("</table>", returns)]
    rows = section.count('<tr class="doc-section-item">')
    assert rows == 1, f"Attention.forward's Returns table has {rows} rows"
