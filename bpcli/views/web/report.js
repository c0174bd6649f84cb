// bp train --report: charts drawn as SVG from the run's data; nothing fetched.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("r-data").textContent);
  const W = 560, H = 320, L = 62, R = 16, T = 12, B = 40;

  const num = (v) => (v === "inf" ? Infinity : v === "-inf" ? -Infinity : v === "nan" ? NaN : v);
  const fmt = (v) => { v = num(v); return Number.isInteger(v) ? String(v) : String(parseFloat(v.toPrecision(6))); };
  function el(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function ticks(lo, hi, n) { // about n round numbers across [lo, hi]
    const step0 = (hi - lo) / n || 1, mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  // A chart frame: axes, ticks, labels; returns the scales. `log` plots log10 of y.
  function frame(svg, xr, yr, xlabel, ylabel, log) {
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    const sx = (x) => L + (x - xr[0]) / (xr[1] - xr[0] || 1) * (W - L - R);
    const sy = (y) => H - B - (y - yr[0]) / (yr[1] - yr[0] || 1) * (H - T - B);
    for (const t of ticks(yr[0], yr[1], 5)) {
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: sy(t), y2: sy(t), class: "grid" }));
      svg.appendChild(el("text", { x: L - 6, y: sy(t) + 4, "text-anchor": "end" }, log ? fmt(+Math.pow(10, t).toPrecision(3)) : fmt(t)));
    }
    for (const t of ticks(xr[0], xr[1], 6)) {
      svg.appendChild(el("text", { x: sx(t), y: H - B + 16, "text-anchor": "middle" }, fmt(t)));
    }
    svg.appendChild(el("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
    svg.appendChild(el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
    svg.appendChild(el("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, xlabel));
    svg.appendChild(el("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, ylabel));
    return [sx, sy];
  }
  function range(values) {
    const f = values.filter(isFinite);
    let lo = Math.min(...f), hi = Math.max(...f);
    if (!f.length) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    return [lo, hi];
  }
  function polyline(svg, xs, ys, sx, sy, cls) {
    const pts = xs.map((x, i) => [x, ys[i]]).filter(([x, y]) => isFinite(x) && isFinite(y));
    svg.appendChild(el("polyline", { points: pts.map(([x, y]) => sx(x).toFixed(1) + "," + sy(y).toFixed(1)).join(" "), class: cls }));
  }

  function lossChart() {
    const loss = data.loss.map(num), epochs = loss.map((_, i) => i);
    const val = (data.val_loss || []).map(num);  // --val: the held-out rows' loss, beside it
    const log = loss.concat(val).every((v) => v > 0 || !isFinite(v));
    const ys = log ? loss.map((v) => Math.log10(v)) : loss;
    const vs = log ? val.map((v) => Math.log10(v)) : val;
    const title = (log ? "mean loss (log scale)" : "mean loss") + (val.length ? ": training, validation (dashed)" : "");
    const [sx, sy] = frame($("r-loss"), [0, Math.max(1, loss.length - 1)], range(ys.concat(vs)), "epoch", title, log);
    polyline($("r-loss"), epochs, ys, sx, sy, "curve");
    if (val.length) polyline($("r-loss"), epochs, vs, sx, sy, "curve val");
  }
  function accuracyChart() {
    if (!data.accuracy) return;
    $("r-accuracy-card").hidden = false;
    const xs = data.accuracy.map((p) => p[0]), ys = data.accuracy.map((p) => p[1]);
    const [sx, sy] = frame($("r-accuracy"), [0, Math.max(1, data.loss.length - 1)], [0, 1], "epoch", "accuracy (ŷ ≥ 0.5 means 1)");
    polyline($("r-accuracy"), xs, ys, sx, sy, "curve");
  }
  function fitChart() {
    const fit = data.fit, P = data.points, svg = $("r-fit");
    if (!fit) return;
    $("r-fit-card").hidden = false;
    const y = P[data.target].map(num);
    if (fit.kind === "line") {
      const f = data.features[0], x = P[f].map(num), fx = fit.x.map(num), fy = fit.yhat.map(num);
      $("r-fit-title").textContent = "The fit: ŷ over the data (" + data.target + " against " + f + ")";
      const [sx, sy] = frame(svg, range(fx), range(y.concat(fy)), f, data.target);
      x.forEach((v, i) => { if (isFinite(v) && isFinite(y[i])) svg.appendChild(el("circle", { cx: sx(v), cy: sy(y[i]), r: 3, class: "pt" })); });
      polyline(svg, fx, fy, sx, sy, "fit");
      return;
    }
    // Two features, classifying: P(1) on a grid as shaded cells, the 0.5 line, the points by class.
    const [a, b] = data.features, n = fit.size;
    $("r-fit-title").textContent = "Decision boundary: ŷ = 0.5 (shaded by ŷ), " + a + " against " + b;
    const [sx, sy] = frame(svg, fit.x, fit.y, a, b);
    const cw = (sx(fit.x[1]) - sx(fit.x[0])) / (n - 1), ch = (sy(fit.y[0]) - sy(fit.y[1])) / (n - 1);
    const g = el("g", { opacity: "0.35" });
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      const p = num(fit.p[j * n + i]);
      const xa = fit.x[0] + (fit.x[1] - fit.x[0]) * i / (n - 1), yb = fit.y[0] + (fit.y[1] - fit.y[0]) * j / (n - 1);
      g.appendChild(el("rect", { x: sx(xa) - cw / 2, y: sy(yb) - ch / 2, width: cw + 0.5, height: ch + 0.5,
        fill: "color-mix(in srgb, var(--c1) " + Math.round(100 * p) + "%, var(--c0))" }));
    }
    svg.appendChild(g);
    // The boundary: cell edges where ŷ crosses 0.5 (marching squares, straight segments).
    const at = (i, j) => num(fit.p[j * n + i]) - 0.5, X = (i) => fit.x[0] + (fit.x[1] - fit.x[0]) * i / (n - 1), Y = (j) => fit.y[0] + (fit.y[1] - fit.y[0]) * j / (n - 1);
    let d = "";
    for (let j = 0; j < n - 1; j++) for (let i = 0; i < n - 1; i++) {
      const corners = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]], cross = [];
      for (let k = 0; k < 4; k++) {
        const [i0, j0] = corners[k], [i1, j1] = corners[(k + 1) % 4], v0 = at(i0, j0), v1 = at(i1, j1);
        if ((v0 < 0) !== (v1 < 0)) { const t = v0 / (v0 - v1); cross.push([X(i0) + (X(i1) - X(i0)) * t, Y(j0) + (Y(j1) - Y(j0)) * t]); }
      }
      if (cross.length >= 2) d += "M" + sx(cross[0][0]).toFixed(1) + "," + sy(cross[0][1]).toFixed(1) + "L" + sx(cross[1][0]).toFixed(1) + "," + sy(cross[1][1]).toFixed(1);
    }
    if (d) svg.appendChild(el("path", { d, class: "edge" }));
    P[a].forEach((v, i) => svg.appendChild(el("circle", { cx: sx(num(v)), cy: sy(num(P[b][i])), r: 3.2, class: y[i] >= 0.5 ? "c1" : "c0", stroke: "#000", "stroke-width": 0.4 })));
  }
  // bp train --health: a line per parameter (or layer) over the epochs, with a legend.
  const PALETTE = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457"];
  function seriesChart(card, svgId, legendId, series, ylabel, yr, reference) {
    const names = Object.keys(series), xs = data.health.epochs;
    if (!names.length) return;
    $(card).hidden = false;
    const svg = $(svgId), all = [].concat(...names.map((n) => series[n])).filter((v) => v !== null);
    const [sx, sy] = frame(svg, [xs[0], Math.max(xs[0] + 1, xs[xs.length - 1])], yr || range(reference === undefined ? all : all.concat([reference])), "epoch", ylabel);
    if (reference !== undefined) svg.appendChild(el("line", { x1: sx(xs[0]), x2: sx(xs[xs.length - 1]), y1: sy(reference), y2: sy(reference), class: "reference" }));
    const legend = $(legendId);
    names.forEach((n, k) => {
      const colour = PALETTE[k % PALETTE.length];
      polyline(svg, xs, series[n].map((v) => (v === null ? NaN : v)), sx, sy, "series");
      svg.lastChild.setAttribute("stroke", colour);
      svg.lastChild.setAttribute("data-series", n);
      const item = document.createElement("span"), swatch = document.createElement("i");
      swatch.style.background = colour;
      item.append(swatch, n);
      legend.append(item, " ");
    });
  }
  function healthCharts() {
    const h = data.health;
    if (!h) return;
    seriesChart("r-update-card", "r-update", "r-update-legend", h.update_data, "log10 update:data", null, -3);
    seriesChart("r-grad-card", "r-grad", "r-grad-legend", h.grad_data, "log10 grad:data");
    const acts = {};
    Object.keys(h.activations).forEach((n) => { acts[n + " (" + h.activations[n].kind + ", " + h.activations[n].figure + ")"] = h.activations[n].values; });
    seriesChart("r-act-card", "r-act", "r-act-legend", acts, "share of the layer", [0, 1]);
    if (h.warnings.length) {
      $("r-health-warnings").hidden = false;
      h.warnings.forEach((w) => { const li = document.createElement("li"); li.textContent = w; $("r-warnings").appendChild(li); });
    }
  }
  function tables() {
    const row = (t, cells, numeric) => { const tr = document.createElement("tr"); cells.forEach((c, i) => { const td = document.createElement(i ? "td" : "th"); td.textContent = c; if (numeric && i) td.className = "n"; tr.appendChild(td); }); t.appendChild(tr); };
    const p = $("r-params");
    row(p, ["parameter", "initial", "final"]);
    // A tensor parameter (nested lists) is shown by its shape and first entries.
    const shape = (v) => (Array.isArray(v) ? [v.length].concat(shape(v[0])) : []);
    const cell = (v) => {
      if (!Array.isArray(v)) return typeof v === "string" && isNaN(num(v)) && v !== "nan" ? v : String(num(v));
      const flat = v.flat(Infinity);
      return shape(v).join("×") + ": [" + flat.slice(0, 4).map(fmt).join(", ") + (flat.length > 4 ? ", …" : "") + "]";
    };
    Object.keys(data.params).forEach((k) => row(p, [k, cell(data.init[k]), cell(data.params[k])], true));
    const s = $("r-settings"), st = data.settings;
    row(s, ["learning rate", String(st.lr)]);
    row(s, ["epochs", st.epochs_run + (st.interrupted ? " (interrupted)" : "") + " of " + st.epochs]);
    row(s, ["batch size", String(st.batch_size)]);
    row(s, ["dtype", st.dtype]);
    row(s, ["loss of a row", data.loss_formula]);
    if (data.accuracy && data.accuracy.length) row(s, ["final accuracy", (100 * data.accuracy[data.accuracy.length - 1][1]).toFixed(1) + "%"]);
    if (data.validation) row(s, ["validation", data.validation.source + ": " + data.validation.rows + " rows"]);
    if (data.val_loss && data.val_loss.length) row(s, ["final validation loss", fmt(data.val_loss[data.val_loss.length - 1])]);
    if (data.val_accuracy && data.val_accuracy.length) row(s, ["final validation accuracy", (100 * data.val_accuracy[data.val_accuracy.length - 1]).toFixed(1) + "%"]);
  }

  $("r-title").textContent = data.title;
  const last = data.loss.length ? fmt(data.loss[data.loss.length - 1]) : "–";
  $("r-summary").textContent = data.source + ": " + data.rows + " rows; features " + data.features.join(", ") + "; target " + data.target + "; final mean loss " + last;
  if (!$("r-graph").getAttribute("srcdoc")) $("r-graph-card").hidden = true;
  $("r-theme").onclick = () => { document.documentElement.dataset.theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark"; };
  if (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) document.documentElement.dataset.theme = "dark";
  lossChart();
  accuracyChart();
  fitChart();
  healthCharts();
  tables();
  document.body.dataset.ready = "1";
})();
