// Set-up for the widget JavaScript, loaded after require.js and before embed-amd.js
// (the order of nb_ipywidgets_js in _config.yml). Written for this book; see README.txt.
(function () {
  "use strict";
  // 1. The widget modules load their fonts (Font Awesome) from beside their own URL, which
  //    require.js makes from the module's name: relative to the page, so from folders that
  //    do not exist. Name this folder instead, where the fonts are vendored.
  var here = document.currentScript.src.replace(/[?#].*$/, "").replace(/[^/]*$/, "");
  window.require.config({
    paths: {
      "@jupyter-widgets/html-manager": here + "html-manager",
      "@jupyter-widgets/html-manager/dist": here.replace(/\/$/, ""),
    },
  });

  // 2. ipywidgets typesets widget labels with MathJax 2's API, MathJax.Hub.Queue, which the
  //    book's MathJax 3 lacks (jupyter-widgets/ipywidgets#3829). Pass those calls on to
  //    MathJax 3. MathJax is loaded with `defer`, so it is there once the document is parsed;
  //    the widgets render later, on the window's load event.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (mathjax === undefined || mathjax.Hub !== undefined) {
      return;
    }
    mathjax.Hub = {
      Queue: function (job) {
        var element = job[2]; // ["Typeset", MathJax.Hub, element]
        if (mathjax.typesetPromise !== undefined && element) {
          mathjax.startup.promise.then(function () {
            return mathjax.typesetPromise([element]);
          });
        }
      },
    };
  });
})();
