/* Tandem report: tabs, sortable tables, chart cursor, marker tooltips, and a
   self-check written into <body data-*> (what the browser test reads). */
(function () {
  "use strict";
  var doc = document;
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  // Self-check first, while every symbol is visible (hidden SVG has no geometry).
  // An element counts as drawn when layout gave it an extent (a level line is flat).
  function drawn(selector, flatOk) {
    var n = 0;
    each(doc.querySelectorAll(selector), function (el) {
      var b = el.getBBox();
      if (flatOk ? b.width > 0 || b.height > 0 : b.width > 0 && b.height > 0) { n++; }
    });
    return n;
  }
  var body = doc.body;
  body.dataset.entriesDrawn = drawn(".marker.entry");
  body.dataset.exitsDrawn = drawn(".marker.exit");
  body.dataset.levelsDrawn = drawn(".level", true);
  body.dataset.linesDrawn = drawn("path.equity, path.buyhold, path.drawdown, path.close");
  body.dataset.candlesDrawn = drawn(".candles path.wick");

  doc.documentElement.classList.add("js");

  // Tabs: one symbol at a time.
  var tabs = doc.querySelectorAll("nav.tabs button");
  function show(id) {
    each(doc.querySelectorAll("section.symbol"), function (s) {
      s.classList.toggle("active", s.id === id);
    });
    each(tabs, function (b) { b.classList.toggle("active", b.dataset.tab === id); });
  }
  each(tabs, function (b) { b.addEventListener("click", function () { show(b.dataset.tab); }); });
  if (tabs.length) { show(tabs[0].dataset.tab); }

  // Sortable tables: click a header; "#sort=KEY:asc|desc" in the URL pre-sorts.
  function key(td, type) {
    var v = td.dataset.v !== undefined ? td.dataset.v : td.textContent;
    if (type !== "num") { return v; }
    var x = parseFloat(String(v).replace(/[^0-9eE+\-.]/g, ""));
    return isNaN(x) ? -Infinity : x;
  }
  function sortTable(table, col, dir) {
    var th = table.tHead.rows[0].cells[col], type = th.dataset.type;
    var tbody = table.tBodies[0], rows = Array.prototype.slice.call(tbody.rows);
    var keys = rows.map(function (r) { return key(r.cells[col], type); });
    var order = rows.map(function (r, i) { return i; });
    order.sort(function (a, b) {
      return (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b) * dir;
    });
    order.forEach(function (i) { tbody.appendChild(rows[i]); });
    each(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
  }
  each(doc.querySelectorAll("table.sortable"), function (table) {
    each(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        sortTable(table, col, th.getAttribute("aria-sort") === "ascending" ? -1 : 1);
      });
    });
  });
  var m = /sort=([\w-]+):(asc|desc)/.exec(location.hash);
  if (m) {
    each(doc.querySelectorAll("table.sortable"), function (table) {
      each(table.tHead.rows[0].cells, function (th, col) {
        if (th.dataset.key === m[1]) { sortTable(table, col, m[2] === "asc" ? 1 : -1); }
      });
    });
  }

  // A time cursor on every chart.
  each(doc.querySelectorAll("svg.chart"), function (svg) {
    var t0 = +svg.dataset.t0, t1 = +svg.dataset.t1;
    var l = +svg.dataset.left, r = +svg.dataset.right;
    var cur = svg.querySelector(".cursor"), lab = svg.querySelector(".cursor-label");
    svg.addEventListener("mousemove", function (ev) {
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var p = pt.matrixTransform(svg.getScreenCTM().inverse());
      if (p.x < l || p.x > r) { return; }
      cur.setAttribute("x1", p.x); cur.setAttribute("x2", p.x);
      var t = t0 + (p.x - l) / (r - l) * (t1 - t0);
      lab.textContent = new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    });
  });

  // Marker tooltips: the trade's row of the trade list.
  var tip = doc.getElementById("tooltip");
  each(doc.querySelectorAll("section.symbol"), function (sec) {
    var rows = {};
    each(sec.querySelectorAll("table.trades tbody tr"), function (tr) { rows[tr.dataset.trade] = tr; });
    var head = Array.prototype.map.call(sec.querySelectorAll("table.trades thead th"),
                                        function (th) { return th.textContent; });
    sec.addEventListener("mouseover", function (ev) {
      var mk = ev.target.closest ? ev.target.closest(".marker") : null;
      var tr = mk ? rows[mk.dataset.trade] : null;
      if (!tr) { tip.hidden = true; return; }
      tip.textContent = Array.prototype.map.call(tr.cells, function (td, i) {
        return head[i] + ": " + td.textContent;
      }).join("\n");
      tip.style.left = (ev.pageX + 12) + "px";
      tip.style.top = (ev.pageY + 12) + "px";
      tip.hidden = false;
    });
  });

  body.dataset.rendered = "ok";
})();
