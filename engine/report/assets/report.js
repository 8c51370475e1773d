/* Tandem report: tabs, sortable tables, chart cursor, marker tooltips, and a
   self-check written into <body data-*> (what the browser test reads). */
(function () {
  "use strict";
  var doc = document;
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  // Self-check first, while every symbol is visible (hidden SVG has no geometry).
  // An element counts as drawn when layout gave it an extent (a line may be flat).
  function drawn(selector, flatOk) {
    var n = 0;
    each(doc.querySelectorAll(selector), function (el) {
      var b = el.getBBox();
      if (b.width > 0 && (flatOk || b.height > 0)) { n++; }
    });
    return n;
  }
  var body = doc.body;
  body.dataset.entriesDrawn = drawn(".marker.entry");
  body.dataset.exitsDrawn = drawn(".marker.exit");
  var levels = 0;  // one path per kind of level, each drawing data-count of them
  each(doc.querySelectorAll("path.level"), function (p) {
    if (+p.dataset.count && p.getBBox().width > 0) { levels += +p.dataset.count; }
  });
  body.dataset.levelsDrawn = levels;
  body.dataset.linesDrawn = drawn("path.equity, path.buyhold, path.drawdown, path.close", true);
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

  // Trade lists: rows drawn from their JSON one page at a time; click a header to
  // sort; "#sort=KEY:asc|desc" in the URL pre-sorts every list.
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  var lists = [];
  each(doc.querySelectorAll(".tradelist"), function (box) {
    var data = JSON.parse(box.querySelector("script.trade-data").textContent);
    var table = box.querySelector("table"), tbody = table.tBodies[0];
    var heads = table.tHead.rows[0].cells, pager = box.querySelector(".pager");
    var order = data.rows.map(function (r, i) { return i; }), page = 0;
    pager.innerHTML = '<button type="button" class="prev">&#9664;</button> ' +
      '<span class="range"></span> <button type="button" class="next">&#9654;</button>';
    var pages = function () { return Math.max(1, Math.ceil(order.length / data.page)); };
    function draw() {
      var html = [], from = page * data.page, to = Math.min(order.length, from + data.page);
      for (var j = from; j < to; j++) {
        var i = order[j], row = data.rows[i];
        html.push('<tr data-trade="' + i + '">');
        for (var c = 0; c < row.length; c++) {
          var k = data.keys[i][c];
          var cls = data.signed[c] && k ? (k > 0 ? ' class="pos"' : ' class="neg"') : "";
          html.push("<td" + cls + ">" + esc(row[c]) + "</td>");
        }
        html.push("</tr>");
      }
      tbody.innerHTML = html.join("");
      pager.querySelector(".range").textContent = order.length ?
        "trades " + (from + 1) + "–" + to + " of " + order.length : "no trades";
      pager.querySelector(".prev").disabled = page === 0;
      pager.querySelector(".next").disabled = page >= pages() - 1;
    }
    function sortBy(col, dir) {
      var num = heads[col].dataset.type === "num";
      var key = function (i) {
        var k = data.keys[i][col];
        return num ? (k === null ? -Infinity : k) : data.rows[i][col];
      };
      order.sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : a - b) * dir;
      });
      each(heads, function (h) { h.removeAttribute("aria-sort"); });
      heads[col].setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      page = 0;
      draw();
    }
    each(heads, function (th, col) {
      th.addEventListener("click", function () {
        sortBy(col, th.getAttribute("aria-sort") === "ascending" ? -1 : 1);
      });
    });
    pager.querySelector(".prev").addEventListener("click", function () { page--; draw(); });
    pager.querySelector(".next").addEventListener("click", function () { page++; draw(); });
    lists.push({ box: box, data: data, heads: heads, sortBy: sortBy });
    draw();
  });
  var m = /sort=([\w-]+):(asc|desc)/.exec(location.hash);
  if (m) {
    lists.forEach(function (l) {
      each(l.heads, function (th, col) {
        if (th.dataset.key === m[1]) { l.sortBy(col, m[2] === "asc" ? 1 : -1); }
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
  lists.forEach(function (l) {
    var labels = Array.prototype.map.call(l.heads, function (th) { return th.textContent; });
    l.box.closest("section").addEventListener("mouseover", function (ev) {
      var mk = ev.target.closest ? ev.target.closest(".marker") : null;
      var row = mk ? l.data.rows[+mk.dataset.trade] : null;
      if (!row) { tip.hidden = true; return; }
      tip.textContent = row.map(function (cell, i) { return labels[i] + ": " + cell; }).join("\n");
      tip.style.left = (ev.pageX + 12) + "px";
      tip.style.top = (ev.pageY + 12) + "px";
      tip.hidden = false;
    });
  });

  // ms from navigation start to here: parse, layout, the self-check (bench/report.py reads it)
  body.dataset.readyMs = Math.round(performance.now());
  body.dataset.rendered = "ok";
})();
