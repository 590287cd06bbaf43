// The port map is one pixel per port, 256 ports a row: a click at (x, y) is
// port row * 256 + column. Without JavaScript the lookup box does the job.
(function () {
  var img = document.getElementById("portmap");
  if (!img) return;
  var hover = document.getElementById("portmap-hover");
  var SIDE = 256;

  function portAt(event) {
    var box = img.getBoundingClientRect();
    var col = Math.floor(((event.clientX - box.left) / box.width) * SIDE);
    var row = Math.floor(((event.clientY - box.top) / box.height) * SIDE);
    if (col < 0 || row < 0 || col >= SIDE || row >= SIDE) return null;
    return row * SIDE + col;
  }

  img.addEventListener("click", function (event) {
    var port = portAt(event);
    if (port !== null) window.location.href = "/ports/" + port;
  });
  img.addEventListener("mousemove", function (event) {
    var port = portAt(event);
    hover.textContent = port === null ? "" : "Port " + port;
  });
  img.addEventListener("mouseleave", function () {
    hover.textContent = "";
  });
})();
