// The port map is one pixel per port, 256 ports a row: a click at (x, y) is
// port row * 256 + column. Without JavaScript the lookup box does the job.
// A mouse click opens the port at once. A finger covers dozens of cells and
// cannot hover, so a tap only marks the cell and offers a link to its port.
(function () {
  var img = document.getElementById("portmap");
  if (!img) return;
  var hover = document.getElementById("portmap-hover");
  var marker = document.getElementById("portmap-marker");
  var SIDE = 256;
  var pointer = "mouse";

  function cellAt(event) {
    var box = img.getBoundingClientRect();
    var col = Math.floor(((event.clientX - box.left) / box.width) * SIDE);
    var row = Math.floor(((event.clientY - box.top) / box.height) * SIDE);
    if (col < 0 || row < 0 || col >= SIDE || row >= SIDE) return null;
    return { row: row, col: col, port: row * SIDE + col };
  }

  function mark(cell) {
    var size = img.clientWidth / SIDE;
    marker.style.left = img.offsetLeft + cell.col * size + "px";
    marker.style.top = img.offsetTop + cell.row * size + "px";
    marker.style.width = marker.style.height = size + "px";
    marker.hidden = false;
    var link = document.createElement("a");
    link.href = "/ports/" + cell.port;
    link.textContent = "Open port " + cell.port;
    hover.textContent = "Tapped port " + cell.port + ": ";
    hover.appendChild(link);
  }

  img.addEventListener("pointerdown", function (event) {
    pointer = event.pointerType || "mouse";
  });
  img.addEventListener("click", function (event) {
    var cell = cellAt(event);
    if (cell === null) return;
    if (pointer === "mouse") window.location.href = "/ports/" + cell.port;
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
