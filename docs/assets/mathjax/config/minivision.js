/* MathJax 2 settings for the lesson pages (mkdocs.yml: custom_mathjax_url ...,minivision).
   The MathJax copied from the jupyter-server-mathjax package ships only the STIX-Web fonts,
   so point the HTML-CSS output at them; no image fonts, nothing from a CDN.
   MathJax also declares a "MathJax_Blank" font at url('about:blank'), which Chromium refuses
   with a console error: declare it as a local font instead, which makes no request at all. */
MathJax.Hub.Config({
  "HTML-CSS": {
    availableFonts: ["STIX-Web"],
    preferredFont: "STIX-Web",
    webFont: "STIX-Web",
    imageFont: null,
    styles: {
      "@font-face": { "font-family": "MathJax_Blank", src: "local('MathJax_Blank')" }
    }
  }
});
MathJax.Ajax.loadComplete("[MathJax]/config/minivision.js");
