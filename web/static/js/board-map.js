// The claim board's map: markers for the listed requests (at their community's centre).
// Tiles only when the server configures TILE_URL; otherwise a blank map, so no internet is needed.
(function () {
  "use strict";

  function draw() {
    var element = document.getElementById("board-map");
    if (!element || element.dataset.drawn || typeof L === "undefined") {
      return;
    }
    element.dataset.drawn = "1";
    var map = L.map(element, { scrollWheelZoom: false });
    var tiles = element.dataset.tileUrl;
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 18 }).addTo(map);
    } else {
      element.classList.add("no-tiles");
      element.setAttribute("title", element.dataset.noTiles || "");
    }
    var points = [];
    document.querySelectorAll(".map-list li[data-lat]").forEach(function (item) {
      var point = [parseFloat(item.dataset.lat), parseFloat(item.dataset.lon)];
      var link = document.createElement("a");
      link.href = "/requests/" + item.dataset.request;
      link.textContent = item.dataset.title;
      L.marker(point, { title: item.dataset.title, keyboard: true }).addTo(map).bindPopup(link);
      points.push(point);
    });
    if (points.length) {
      map.fitBounds(points, { padding: [30, 30], maxZoom: 14 });
    } else {
      map.setView([30.0, 120.0], 6);
    }
  }

  document.addEventListener("DOMContentLoaded", draw);
  // The board swaps its results with HTMX: draw again when a map arrives that way.
  document.addEventListener("htmx:afterSettle", function () {
    // leaflet.js is loaded by the swapped-in markup; give it its turn first.
    window.setTimeout(draw, 0);
  });
  window.addEventListener("load", draw);
})();
