// The map page: all 65,536 ports, 256 a line, --cell pixels a port.
// - Zoom: the buttons, or + and - with the map focused, change --cell (the CSS does the rest).
// - Pointing with a mouse shows the port under it; a click opens its page.
// - A tap (touch, pen) selects the port and shows it, with a link, beside the map.
// - With the map focused, the arrow keys walk (one port, one line), Page Up/Down
//   jump sixteen lines, Home/End go to the line's ends, Enter opens the port.
// What a port holds comes from its JSON twin (/ports/N.json), fetched once per port.
(function () {
  var frame = document.getElementById("map-frame");
  if (!frame) return;
  var img = document.getElementById("bigmap");
  var marker = document.getElementById("map-marker");
  var info = document.getElementById("map-info");
  var heading = document.getElementById("map-info-heading");
  var level = document.getElementById("map-zoom-level");
  var portUrl = frame.dataset.portUrl;
  var SIDE = 256;
  var LAST = SIDE * SIDE - 1;
  var CELLS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
  var cell = parseInt(getComputedStyle(frame).getPropertyValue("--cell"), 10) || 3;
  var selected = null;
  var pointer = "mouse";
  var facts = new Map();
  var shown = null;
  var timer = null;

  function setCell(size) {
    cell = size;
    frame.style.setProperty("--cell", size + "px");
    // Every line gets its label once a line is tall enough to carry one.
    frame.classList.toggle("zoom-high", size >= 12);
    level.textContent = size + " px per port";
    if (selected !== null) place(selected, true);
  }

  function zoom(step) {
    var i = CELLS.indexOf(cell);
    if (i < 0) i = CELLS.findIndex(function (c) { return c > cell; }) - 1;
    var next = CELLS[Math.min(CELLS.length - 1, Math.max(0, i + step))];
    if (next !== cell) setCell(next);
  }

  function portAt(event) {
    var box = img.getBoundingClientRect();
    var col = Math.floor(((event.clientX - box.left) / box.width) * SIDE);
    var row = Math.floor(((event.clientY - box.top) / box.height) * SIDE);
    if (col < 0 || row < 0 || col >= SIDE || row >= SIDE) return null;
    return row * SIDE + col;
  }

  function place(port, scroll) {
    var col = port % SIDE;
    var row = Math.floor(port / SIDE);
    marker.style.left = img.offsetLeft + col * cell + "px";
    marker.style.top = img.offsetTop + row * cell + "px";
    marker.style.width = marker.style.height = Math.max(cell, 3) + "px";
    marker.hidden = false;
    if (scroll) {
      // Keep the marked port inside the frame's visible part.
      var x = img.offsetLeft + col * cell;
      var y = img.offsetTop + row * cell;
      var margin = 2 * Math.max(cell, 8);
      if (x - margin < frame.scrollLeft) frame.scrollLeft = x - margin;
      else if (x + margin > frame.scrollLeft + frame.clientWidth) frame.scrollLeft = x + margin - frame.clientWidth;
      if (y - margin < frame.scrollTop) frame.scrollTop = y - margin;
      else if (y + margin > frame.scrollTop + frame.clientHeight) frame.scrollTop = y + margin - frame.clientHeight;
    }
  }

  function select(port, scroll) {
    selected = Math.min(LAST, Math.max(0, port));
    place(selected, scroll);
    show(selected);
  }

  function element(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }

  function render(port, data) {
    heading.textContent = "Port " + port;
    info.replaceChildren();
    if (data === undefined) {
      info.appendChild(element("p", "Port " + port + ": loading…"));
      return;
    }
    if (data === null) {
      info.appendChild(element("p", "Port " + port + ": its details could not be loaded."));
    } else {
      info.appendChild(element("p", "Port " + port + " is " + data.status + " (" + data.range.name + ")."));
      var list = element("dl");
      Object.keys(data.transports).forEach(function (t) {
        var v = data.transports[t];
        list.appendChild(element("dt", t));
        list.appendChild(element("dd", v.status + (v.services.length ? ": " + v.services.join(", ") : "")));
      });
      info.appendChild(list);
    }
    var p = element("p");
    p.appendChild(element("a", "Open port " + port, { href: portUrl + port }));
    info.appendChild(p);
  }

  function show(port) {
    shown = port;
    if (facts.has(port)) return render(port, facts.get(port));
    render(port, undefined);
    // Pointing sweeps over many ports: ask only for the one the pointer rests on.
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(portUrl + port + ".json")
        .then(function (r) { return r.ok ? r.json() : null; })
        .catch(function () { return null; })
        .then(function (data) {
          if (data !== null) facts.set(port, data);
          if (shown === port) render(port, data);
        });
    }, 60);
  }

  img.addEventListener("pointerdown", function (event) {
    pointer = event.pointerType || "mouse";
  });
  img.addEventListener("pointermove", function (event) {
    if (event.pointerType !== "mouse") return;
    pointer = "mouse";
    var port = portAt(event);
    if (port !== null && port !== shown) show(port);
  });
  img.addEventListener("click", function (event) {
    var port = portAt(event);
    if (port === null) return;
    if (pointer === "mouse") {
      window.location.href = portUrl + port;
    } else {
      select(port, false);
      // The answer, with its link, comes into view beside the map.
      info.scrollIntoView({ block: "nearest" });
    }
  });

  var MOVES = {
    ArrowLeft: -1, ArrowRight: 1, ArrowUp: -SIDE, ArrowDown: SIDE,
    PageUp: -16 * SIDE, PageDown: 16 * SIDE,
  };
  frame.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var from = selected === null ? 0 : selected;
    if (event.key in MOVES) {
      select(selected === null ? 0 : from + MOVES[event.key], true);
    } else if (event.key === "Home") {
      select(from - (from % SIDE), true);
    } else if (event.key === "End") {
      select(from - (from % SIDE) + SIDE - 1, true);
    } else if (event.key === "Enter" && selected !== null) {
      window.location.href = portUrl + selected;
    } else if (event.key === "+" || event.key === "=") {
      zoom(1);
    } else if (event.key === "-" || event.key === "_") {
      zoom(-1);
    } else {
      return;
    }
    event.preventDefault();
  });
  frame.addEventListener("focus", function () {
    // Reached with the keyboard: start at port 0, so the arrow keys have somewhere to go.
    // (Not on a click or a tap: that selects its own port.)
    if (selected === null && frame.matches(":focus-visible")) select(0, true);
  });

  document.getElementById("map-zoom-in").addEventListener("click", function () { zoom(1); });
  document.getElementById("map-zoom-out").addEventListener("click", function () { zoom(-1); });

  // "Go to port" moves the map there (without JavaScript the form opens the port's page).
  var go = document.querySelector("form.map-go");
  go.addEventListener("submit", function (event) {
    var text = document.getElementById("map-port").value.trim();
    if (!/^[0-9]{1,5}$/.test(text) || Number(text) > LAST) return;
    event.preventDefault();
    select(Number(text), true);
    frame.focus({ preventScroll: true });
  });

  setCell(cell);
  var wanted = new URLSearchParams(window.location.search).get("port");
  if (wanted !== null && /^[0-9]{1,5}$/.test(wanted) && Number(wanted) <= LAST) {
    select(Number(wanted), true);
  }
})();
