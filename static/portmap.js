// The home page's overview map is one pixel per port, 256 ports a line: a click at
// (x, y) is port line * 256 + column. Without JavaScript the lookup box does the job.
// A mouse click opens the port at once. A finger covers dozens of cells and cannot
// hover, so a tap only marks the cell and offers, right under the map, a link to the
// port and to the large map around it. Links come from the page (data-*), so they
// follow the site's base URL.
(function () {
  var img = document.getElementById("portmap");
  if (!img) return;
  var hover = document.getElementById("portmap-hover");
  var marker = document.getElementById("portmap-marker");
  var portUrl = img.dataset.portUrl;
  var mapUrl = img.dataset.mapUrl;
  var SIDE = 256;
  var pointer = "mouse";

  function cellAt(event) {
    var box = img.getBoundingClientRect();
    var col = Math.floor(((event.clientX - box.left) / box.width) * SIDE);
    var row = Math.floor(((event.clientY - box.top) / box.height) * SIDE);
    if (col < 0 || row < 0 || col >= SIDE || row >= SIDE) return null;
    return { row: row, col: col, port: row * SIDE + col };
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function mark(cell) {
    var size = img.clientWidth / SIDE;
    marker.style.left = img.offsetLeft + cell.col * size + "px";
    marker.style.top = img.offsetTop + cell.row * size + "px";
    marker.style.width = marker.style.height = Math.max(size, 2) + "px";
    marker.hidden = false;
    hover.textContent = "Tapped port " + cell.port + ": ";
    hover.appendChild(link(portUrl + cell.port, "Open port " + cell.port));
    hover.appendChild(document.createTextNode(" · "));
    hover.appendChild(link(mapUrl + "?port=" + cell.port, "See it on the large map"));
    // The line sits right under the map: bring it into view if the map reaches the screen's edge.
    hover.scrollIntoView({ block: "nearest" });
  }

  img.addEventListener("pointerdown", function (event) {
    pointer = event.pointerType || "mouse";
  });
  img.addEventListener("click", function (event) {
    var cell = cellAt(event);
    if (cell === null) return;
    if (pointer === "mouse") window.location.href = portUrl + cell.port;
    else mark(cell);
  });
  img.addEventListener("pointermove", function (event) {
    if (event.pointerType !== "mouse") return;
    pointer = "mouse";
    var cell = cellAt(event);
    hover.textContent = cell === null ? "" : "Port " + cell.port;
  });
  img.addEventListener("pointerleave", function (event) {
    if (event.pointerType === "mouse") hover.textContent = "";
  });
})();
