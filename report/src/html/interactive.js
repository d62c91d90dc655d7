/* svclab report: interactive charts, written for this page (no library).
 *
 * Reads the JSON block #svclab-series (built in Rust from run.json by
 * report/src/chart/series.rs: the numbers the SVG charts plot) and, for
 * each chart in it, upgrades the <figure id="chart-<id>"> wherever it is on
 * the page: hides its plotters SVG (kept for readers without JavaScript)
 * and draws the chart on a canvas instead. Every chart shares one x range
 * and one hover time:
 *   hover      tooltip with the bucket's time and each shown series' value,
 *              crosshair at that time on every chart
 *   drag       zoom every chart's x axis to the selected time range
 *   dblclick   back to the whole run
 *   legend     click an entry to hide or show its series
 * State for tests and the curious: window.svclab (see the end) and each
 * figure's data-x-min / data-x-max; the tooltip carries data-t and a
 * data-value per series row.
 */
(function () {
  'use strict';
  var CSS =
    'figure.svclab-live>:not(.svclab-ui){display:none}' +
    '.svclab-title{font:bold 16px system-ui,sans-serif;margin:6px 0 0 6.6%}' +
    '.svclab-keys{position:absolute;left:82.8%;right:0;display:flex;flex-direction:column;align-items:flex-start;font:13px system-ui,sans-serif}' +
    '.svclab-keys button{font:inherit;background:none;border:1px solid transparent;border-radius:4px;padding:1px 6px;cursor:pointer}' +
    '.svclab-keys button:hover{border-color:#ccc}.svclab-keys button.off{opacity:.35;text-decoration:line-through}' +
    '.svclab-keys i{display:inline-block;width:14px;height:10px;margin-right:5px;border-radius:2px}' +
    '.svclab-keys i.dash{height:0;border-top:2px dashed;background:none!important;vertical-align:middle}' +
    '.svclab-plot{position:relative}.svclab-plot canvas{display:block;width:100%;cursor:crosshair}' +
    '.svclab-tip{position:absolute;pointer-events:none;background:rgba(255,255,255,.95);border:1px solid #888;' +
    'border-radius:4px;padding:4px 8px;font:12px system-ui,sans-serif;white-space:nowrap;display:none;z-index:2}' +
    '.svclab-tip b{display:block;margin-bottom:2px}.svclab-tip i{display:inline-block;width:10px;height:10px;margin-right:5px}' +
    '.svclab-hint{font:12px system-ui,sans-serif;color:#777;margin:0 0 4px 6.6%}';
  /* The plot box as in the SVG charts (report/src/chart/mod.rs: 1300 wide,
     plot from 86 to 994, legend column from 1070), so x axes line up with
     the charts that stay SVG. */
  var BOX = { left: 86 / 1300, right: 994 / 1300, bottom: 40 };
  var data, full, range, hoverT = null, drag = null, charts = [];

  function fmt(v, pct) {
    if (v === null || v === undefined) return '–';
    if (pct) return (v * 100).toFixed(1) + '%';
    var a = Math.abs(v);
    if (a >= 100 || v === Math.round(v)) return v.toFixed(0);
    return a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }
  function el(tag, cls, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  /* About n round ticks in [a, b]. */
  function ticks(a, b, n) {
    var step = Math.pow(10, Math.floor(Math.log10((b - a) / n || 1))), out = [];
    var f = (b - a) / n / step;
    step *= f > 5 ? 10 : f > 2 ? 5 : f > 1 ? 2 : 1;
    for (var v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  /* The bucket holding time t, or -1. */
  function bucketAt(c, t) {
    var ts = c.spec.t, i = ts.length - 1;
    while (i >= 0 && ts[i] > t) i--;
    return i >= 0 && t < ts[i] + data.bucket_s ? i : -1;
  }

  function make(fig, id, spec) {
    var c = { id: id, fig: fig, spec: spec, hidden: {} };
    var ui = el('div', 'svclab-ui', fig);
    el('div', 'svclab-title', ui).textContent = spec.title;
    var plot = el('div', 'svclab-plot', ui);
    var keys = el('div', 'svclab-keys', plot);
    keys.style.top = top() + 'px';
    spec.series.forEach(function (s) {
      var b = el('button', '', keys);
      b.type = 'button';
      b.dataset.series = s.name;
      b.setAttribute('aria-pressed', 'true');
      var sw = el('i', s.dash ? 'dash' : '', b);
      sw.style.background = s.color;
      sw.style.borderColor = s.color;
      b.appendChild(document.createTextNode(s.name));
      b.addEventListener('click', function () {
        c.hidden[s.name] = !c.hidden[s.name];
        b.className = c.hidden[s.name] ? 'off' : '';
        b.setAttribute('aria-pressed', String(!c.hidden[s.name]));
        draw(c);
        if (c.tipT !== null) tooltip(c, c.tipT);
      });
    });
    c.canvas = el('canvas', '', plot);
    var base = spec.series.some(function (s) { return s.draw === 'band'; }) ? 380 : 300;
    c.canvas.style.height = Math.max(base, top() + 24 * spec.series.length + BOX.bottom) + 'px';
    c.tip = el('div', 'svclab-tip', plot);
    c.tipT = null;
    el('div', 'svclab-hint', ui).textContent = 'hover for values · drag to zoom (all charts) · double-click to reset · click a legend entry to hide it';
    fig.classList.add('svclab-live');
    var cv = c.canvas;
    cv.addEventListener('mousemove', function (e) {
      var t = timeAt(c, e);
      if (drag) drag.to = t === null ? drag.to : t;
      hover(t, c);
    });
    cv.addEventListener('mouseleave', function () { hover(null, c); });
    cv.addEventListener('mousedown', function (e) {
      var t = timeAt(c, e);
      if (t !== null && e.button === 0) { drag = { chart: c, from: t, to: t, x: e.clientX }; e.preventDefault(); }
    });
    cv.addEventListener('dblclick', function () { setRange(full); });
    return c;
  }

  /* Room above the plot for one or two rows of marker labels. */
  function top() { return data.markers.length > 1 ? 42 : 26; }

  /* The time under the mouse, or null outside the plot. */
  function timeAt(c, e) {
    var r = c.canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    if (x < c.L || x > c.R || y < top() || y > c.h - BOX.bottom) return null;
    return range[0] + (x - c.L) / (c.R - c.L) * (range[1] - range[0]);
  }

  function hover(t, from) {
    hoverT = t;
    charts.forEach(function (c) {
      draw(c);
      if (c === from && t !== null && !drag) tooltip(c, t);
      else { c.tip.style.display = 'none'; c.tipT = null; }
    });
  }

  function tooltip(c, t) {
    var i = bucketAt(c, t), tip = c.tip, spec = c.spec;
    if (i < 0) { tip.style.display = 'none'; c.tipT = null; return; }
    c.tipT = t;
    var t0 = spec.t[i];
    tip.dataset.t = t0;
    tip.dataset.bucket = i;
    tip.textContent = '';
    el('b', '', tip).textContent = 't ' + t0.toFixed(1) + '–' + (t0 + data.bucket_s).toFixed(1) + ' s';
    spec.series.forEach(function (s) {
      if (c.hidden[s.name]) return;
      var v = s.values[i], row = el('div', 'svclab-row', tip);
      row.dataset.series = s.name;
      row.dataset.value = v === null ? '' : String(v);
      el('i', '', row).style.background = s.color;
      row.appendChild(document.createTextNode(s.name + ': ' + fmt(v, spec.pct)));
    });
    tip.style.display = 'block';
    var x = c.x(t), w = tip.offsetWidth;
    tip.style.left = (x + 14 + w > c.w ? x - 14 - w : x + 14) + 'px';
    tip.style.top = top() + 'px';
  }

  function setRange(r) {
    range = [Math.max(full[0], r[0]), Math.min(full[1], r[1])];
    if (!(range[1] > range[0])) range = full.slice();
    hover(null, null);
  }

  function draw(c) {
    var cv = c.canvas, dpr = window.devicePixelRatio || 1, spec = c.spec;
    c.w = cv.clientWidth; c.h = cv.clientHeight;
    if (cv.width !== Math.round(c.w * dpr) || cv.height !== Math.round(c.h * dpr)) {
      cv.width = Math.round(c.w * dpr); cv.height = Math.round(c.h * dpr);
    }
    var g = cv.getContext('2d'), L = c.L = c.w * BOX.left, R = c.R = c.w * BOX.right, T = top(), B = c.h - BOX.bottom;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, c.w, c.h);
    var span = range[1] - range[0];
    c.x = function (t) { return L + (t - range[0]) / span * (R - L); };
    function yOf(lo, hi, log) {
      return log ? function (v) { return B - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (B - T); }
        : function (v) { return B - (v - lo) / (hi - lo) * (B - T); };
    }
    var y1 = yOf(spec.y[0], spec.y[1], spec.log), y2 = spec.y2 ? yOf(spec.y2[1][0], spec.y2[1][1], false) : y1;
    c.fig.dataset.xMin = range[0];
    c.fig.dataset.xMax = range[1];
    c.drawn = range.slice();
    g.font = '12px system-ui,sans-serif';
    g.lineWidth = 1;
    // Fault bands, grid and axes.
    g.fillStyle = 'rgba(230,138,0,0.14)';
    data.faults.forEach(function (f) {
      var a = Math.max(L, c.x(f[0])), b = Math.min(R, c.x(f[1]));
      if (b > a) g.fillRect(a, T, b - a, B - T);
    });
    g.fillStyle = '#444';
    g.strokeStyle = '#eee';
    g.textAlign = 'center'; g.textBaseline = 'top';
    ticks(range[0], range[1], Math.max(2, Math.floor((R - L) / 90))).forEach(function (t) {
      var x = Math.round(c.x(t)) + 0.5;
      g.beginPath(); g.moveTo(x, T); g.lineTo(x, B); g.stroke();
      g.fillText(fmt(t), x, B + 5);
    });
    g.fillText('time since run start (s); buckets of ' + fmt(data.bucket_s) + ' s', (L + R) / 2, B + 22);
    g.textAlign = 'right'; g.textBaseline = 'middle';
    var yt = spec.log ? [] : ticks(spec.y[0], spec.y[1], 5);
    for (var d = spec.y[0]; spec.log && d <= spec.y[1] * 1.0001; d *= 10) yt.push(d);
    yt.forEach(function (v) {
      var y = Math.round(y1(v)) + 0.5;
      g.beginPath(); g.moveTo(L, y); g.lineTo(R, y); g.stroke();
      g.fillText(spec.pct ? Math.round(v * 100) + '%' : fmt(v), L - 6, y);
    });
    if (spec.y2) {
      g.textAlign = 'left'; g.fillStyle = '#b2182b';
      ticks(spec.y2[1][0], spec.y2[1][1], 5).forEach(function (v) { g.fillText(fmt(v), R + 6, y2(v)); });
    }
    g.save();
    g.translate(14, (T + B) / 2); g.rotate(-Math.PI / 2);
    g.textAlign = 'center'; g.fillStyle = '#444';
    g.fillText(spec.unit, 0, 0);
    if (spec.y2) { g.fillStyle = '#b2182b'; g.fillText(spec.y2[0], 0, R + 62 - 14); }
    g.restore();
    // The series, clipped to the plot.
    g.save();
    g.beginPath(); g.rect(L, T, R - L, B - T); g.clip();
    var b = data.bucket_s, base = spec.t.map(function () { return 0; });
    spec.series.forEach(function (s) {
      if (c.hidden[s.name]) return;
      var y = s.y2 ? y2 : y1;
      if (s.draw === 'band') {
        g.fillStyle = s.color;
        g.beginPath();
        spec.t.forEach(function (t, i) { var v = y(base[i] + (s.values[i] || 0)); g.lineTo(c.x(t), v); g.lineTo(c.x(t + b), v); });
        for (var i = spec.t.length - 1; i >= 0; i--) {
          g.lineTo(c.x(spec.t[i] + b), y(base[i])); g.lineTo(c.x(spec.t[i]), y(base[i]));
          base[i] += s.values[i] || 0;
        }
        g.fill();
        return;
      }
      g.strokeStyle = s.color; g.lineWidth = s.width;
      g.setLineDash(s.dash ? [7, 4] : []);
      g.beginPath();
      var on = false;
      spec.t.forEach(function (t, i) {
        var v = s.values[i];
        if (v === null || (spec.log && !(v > 0))) { on = false; return; }
        var py = y(v);
        if (s.draw === 'step') {
          g[on ? 'lineTo' : 'moveTo'](c.x(t), py); g.lineTo(c.x(t + b), py);
        } else g[on ? 'lineTo' : 'moveTo'](c.x(t + b / 2), py);
        on = true;
      });
      g.stroke();
    });
    g.setLineDash([]);
    g.restore();
    // Timeline markers: dashed lines, labels in two rows above the plot.
    var ends = [-1e9, -1e9];
    g.textAlign = 'left'; g.textBaseline = 'bottom'; g.fillStyle = '#222'; g.strokeStyle = '#222';
    data.markers.forEach(function (m) {
      var x = c.x(m.t);
      if (x < L || x > R) return;
      g.lineWidth = 1.5; g.setLineDash([6, 4]);
      g.beginPath(); g.moveTo(x, T); g.lineTo(x, B); g.stroke();
      g.setLineDash([]);
      var row = ends[0] <= x ? 0 : ends[1] <= x ? 1 : -1;
      if (row < 0) return;
      var w = g.measureText(m.label).width, tx = Math.min(x + 3, R + 70 - w);
      g.fillText(m.label, tx, T - 4 - 16 * row);
      ends[row] = tx + w + 8;
    });
    g.lineWidth = 1; g.strokeStyle = '#888';
    g.strokeRect(L + 0.5, T + 0.5, R - L, B - T);
    // Crosshair (every chart) and the selection being dragged.
    if (hoverT !== null && hoverT >= range[0] && hoverT <= range[1]) {
      g.strokeStyle = 'rgba(0,0,0,0.6)';
      g.beginPath(); g.moveTo(Math.round(c.x(hoverT)) + 0.5, T); g.lineTo(Math.round(c.x(hoverT)) + 0.5, B); g.stroke();
    }
    if (drag) {
      g.fillStyle = 'rgba(0,114,178,0.15)';
      var a = c.x(Math.min(drag.from, drag.to)), z = c.x(Math.max(drag.from, drag.to));
      g.fillRect(a, T, z - a, B - T);
    }
  }

  function init() {
    var block = document.getElementById('svclab-series');
    if (!block || !window.HTMLCanvasElement) return;
    data = JSON.parse(block.textContent);
    full = data.x.slice();
    range = full.slice();
    el('style', '', document.head).textContent = CSS;
    Object.keys(data.charts).forEach(function (id) {
      var fig = document.getElementById('chart-' + id);
      if (fig) charts.push(make(fig, id, data.charts[id]));
    });
    window.addEventListener('mouseup', function (e) {
      if (!drag) return;
      var d = drag;
      drag = null;
      if (Math.abs(e.clientX - d.x) > 3 && d.to !== d.from) setRange([Math.min(d.from, d.to), Math.max(d.from, d.to)]);
      else hover(hoverT, d.chart);
    });
    window.addEventListener('resize', function () { charts.forEach(draw); });
    charts.forEach(draw);
    function find(id) {
      for (var i = 0; i < charts.length; i++) if (charts[i].id === id) return charts[i];
      return null;
    }
    window.svclab = {
      /* Ids of the upgraded charts. */
      charts: function () { return charts.map(function (c) { return c.id; }); },
      /* The x range chart id last drew, [min, max] seconds. */
      xRange: function (id) { var c = find(id); return c ? c.drawn.slice() : null; },
      /* Viewport x of time t on chart id, and the plot's top and bottom. */
      pixel: function (id, t) {
        var c = find(id), r = c.canvas.getBoundingClientRect();
        return { x: r.left + c.x(t), top: r.top + top(), bottom: r.top + c.h - BOX.bottom };
      },
      /* The tooltip shown on chart id: {t, bucket, values: {series: value}}, or null. */
      tooltip: function (id) {
        var c = find(id);
        if (!c || c.tipT === null) return null;
        var values = {};
        c.tip.querySelectorAll('.svclab-row').forEach(function (r) {
          values[r.dataset.series] = r.dataset.value === '' ? null : Number(r.dataset.value);
        });
        return { t: Number(c.tip.dataset.t), bucket: Number(c.tip.dataset.bucket), values: values, text: c.tip.textContent };
      },
      /* The hovered time (the crosshair on every chart), or null. */
      crosshair: function () { return hoverT; },
      setRange: setRange,
      reset: function () { setRange(full); }
    };
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
