/* The admin's graph preview of a stored pipeline, drawn once by graph.js. */
(function () {
  "use strict";
  const graph = window.HK.readConfig("hk-preview");
  window.HK.drawGraph(document.getElementById("graph"), graph);
})();
