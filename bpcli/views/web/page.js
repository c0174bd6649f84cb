// bp's page: the graph of one formula, its forward and backward pass step by step.
// Reads the document `bp grad --json` prints (schema bp.grad/1 or /2) and the layout bp
// computed; needs no network. Steps: 0 the start, then one per node (forward, in
// topological order), the seed ∂L/∂L = 1, one per edge (backward), and the result.
// Nothing is shown before its step (unless "show everything" is on); in predict mode the
// learner types each number before it is shown, graded by the tolerance and hints bp quiz
// computed for this formula (embedded as data: the page only compares).
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("bp-data").textContent);
  const LABELLED_EDGES = 300; // larger graphs carry their edge numbers in tooltips only
  const TABLE_ROWS = 500;
  const LARGE_ZOOM = 1.5; // A+ zooms the graph by this much
  let doc, lay, steps, states, cur = -1, timer = null, pinned = null;
  let nodeEls = [], edgeEls = [], edgeIndex = {}, rowsFwd = [], rowsBwd = [], shown = [];
  let revealAll = data.reveal === "all";
  let questions = null, predicting = false, asked = null;
  const score = { right: 0, asked: 0, answered: {} };
  let view = null; // the part of the drawing on screen: {x, y, w, h} in layout units
  const stacked = window.matchMedia("(max-width: 1500px)"); // the panel under the graph: the page scrolls

  // -- numbers ----------------------------------------------------------------------
  function num(v) {
    if (v === "inf") return Infinity;
    if (v === "-inf") return -Infinity;
    if (v === "nan") return NaN;
    return v;
  }
  function shapeOf(v) {
    const s = [];
    while (Array.isArray(v)) { s.push(v.length); v = v[0]; }
    return s;
  }
  function minus(t) { return t.replace(/^-/, "−").replace(/e-/, "e−"); }
  function short(v) { // a value as the graph shows it: 6 significant digits
    if (v === null || v === undefined) return "–";
    if (Array.isArray(v)) return "[" + shapeOf(v).join("×") + "]";
    v = num(v);
    if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "−inf");
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return minus(String(v));
    return minus(String(parseFloat(v.toPrecision(6))));
  }
  function full(v, most) { // as Python prints a float: shortest text that reads back exactly
    if (v === null || v === undefined) return "–";
    if (Array.isArray(v)) return arrayText(v, most || 100);
    v = num(v);
    if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    if (Number.isInteger(v) && Math.abs(v) < 1e16) return v.toFixed(1);
    return String(v).replace(/e([+-])(\d)$/, "e$10$2");
  }
  function arrayText(v, most) { // nested lists, at most `most` numbers, as numpy prints them
    let count = 0;
    const walk = (x) => {
      if (!Array.isArray(x)) { count++; return count > most ? "…" : short(x); }
      return "[" + x.map(walk).filter((t, i, all) => t !== "…" || all.indexOf("…") === i).join(", ") + "]";
    };
    return walk(v);
  }
  function brief(v) { // a small array in full (up to 6 numbers), a larger one by its shape
    return Array.isArray(v) && v.flat(Infinity).length <= 6 ? arrayText(v, 6) : short(v);
  }
  function magnitude(v) { // |v|, the largest |element| of an array
    if (Array.isArray(v)) return v.reduce((m, x) => Math.max(m, magnitude(x)), 0);
    v = Math.abs(num(v));
    return isFinite(v) ? v : 0;
  }
  function sign(v) {
    if (Array.isArray(v)) { const f = v.flat(Infinity).map(num); return f.some((x) => x < 0) && !f.some((x) => x > 0) ? -1 : 1; }
    return num(v) < 0 ? -1 : 1;
  }
  function add(a, b) { // elementwise sum of numbers or equally shaped nested lists
    if (a === null) return b;
    if (Array.isArray(a)) return a.map((x, i) => add(x, b[i]));
    return num(a) + num(b);
  }
  function sameNumber(a, b) {
    return a === b || (Array.isArray(a) && Array.isArray(b) && JSON.stringify(a) === JSON.stringify(b));
  }
  function readNumber(text) { // a typed answer as bp quiz reads it: a number or a fraction such as -1/2
    text = text.trim().replace(/−/g, "-");
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?(\/[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)?$/i.test(text)) return null;
    const [top, bottom] = text.split("/");
    const v = bottom === undefined ? parseFloat(top) : parseFloat(top) / parseFloat(bottom);
    return isFinite(v) ? v : null;
  }

  // -- names ------------------------------------------------------------------------
  function ref(i) { // how bp refers to a node: its last bound name, an input's name, else n<id>
    const n = doc.nodes[i];
    if (n.op === "const") return n.id;
    return n.label ? n.label.split(" = ").pop() : n.id;
  }
  function nodeIndex(id) { return parseInt(id.slice(1), 10); }
  function dL(i) { return "∂" + ref(doc.nodes.length - 1) + "/∂" + ref(i); }
  function el(tag, attrs, text) {
    const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function span(cls, text) { return el("span", { class: cls }, text); }
  function noteText(n) { return typeof n === "string" ? n : n.message + (n.suggestion ? " (try " + n.suggestion + ")" : ""); }

  // -- the steps ---------------------------------------------------------------------
  function buildSteps(walk) { // the walk's order is bp's (views/walk.py): [kind, index] per step
    steps = walk.map(([kind, i]) => (kind === "backward" ? { kind, edge: i, node: nodeIndex(doc.edges[i].child) }
      : kind === "forward" || kind === "seed" ? { kind, node: i } : { kind }));
    // Each node's number of contributions, and the step at which each arrives.
    const total = new Array(doc.nodes.length).fill(0);
    doc.edges.forEach((e) => total[nodeIndex(e.child)]++);
    states = { total, biggest: doc.edges.reduce((m, e) => Math.max(m, magnitude(e.contribution)), 0) };
  }
  function stateAt(k) { // what is known after step k: values computed, adjoints so far
    const n = doc.nodes.length;
    const computed = Math.max(0, Math.min(n, k)); // nodes 0 … computed-1 have values
    const adj = new Array(n).fill(null), got = new Array(n).fill(0);
    for (let s = n + 1; s <= k && s < steps.length; s++) {
      const st = steps[s];
      if (st.kind === "seed") { adj[st.node] = 1; }
      else if (st.kind === "backward") {
        const e = doc.edges[st.edge], c = nodeIndex(e.child);
        adj[c] = add(adj[c], e.contribution); got[c]++;
      }
    }
    const complete = new Array(n).fill(false);
    for (let i = 0; i < n; i++) { // complete sums show bp's own adjoint, to the last bit
      if (adj[i] !== null && got[i] === states.total[i]) { adj[i] = doc.nodes[i].adjoint; complete[i] = true; }
    }
    return { computed, adj, got, complete, edgesDone: k > n + 1 ? k - n - 1 : 0, end: k === steps.length - 1 };
  }
  // Everything known: what "show everything" shows at any step.
  function everything() {
    const n = doc.nodes.length;
    return { computed: n, adj: doc.nodes.map((d) => d.adjoint), got: states.total.slice(),
      complete: doc.nodes.map((d) => d.adjoint !== null), edgesDone: doc.edges.length, end: true };
  }

  // -- the graph ---------------------------------------------------------------------
  function drawGraph() {
    const svg = $("bp-graph");
    svg.textContent = "";
    const defs = el("svg:defs");
    // Graphviz ends an edge where its arrowhead (10 units) begins; bp's layout does the same.
    const marker = el("svg:marker", { id: "bp-arrow", viewBox: "0 0 10 10", refX: "0", refY: "5", markerWidth: "10", markerHeight: "8", markerUnits: "userSpaceOnUse", orient: "auto" });
    marker.appendChild(el("svg:path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const edgeLayer = el("svg:g"), nodeLayer = el("svg:g"), labelLayer = el("svg:g", { class: "labels" });
    svg.appendChild(edgeLayer);
    svg.appendChild(nodeLayer);
    svg.appendChild(labelLayer); // above the nodes: a label near a box is never hidden by it
    edgeIndex = {};
    doc.edges.forEach((e, k) => { edgeIndex[e.parent + ":" + e.slot] = k; });
    const labelled = lay.nodes.length <= LABELLED_EDGES;
    edgeEls = new Array(doc.edges.length).fill(null);
    const midpoints = [];
    for (const e of lay.edges) {
      const g = el("svg:g", { class: "edge" });
      const path = el("svg:path", { d: e.path, class: "line", "marker-end": "url(#bp-arrow)" });
      g.appendChild(path);
      g.appendChild(el("svg:path", { d: e.path, class: "hit" }));
      const k = edgeIndex[e.parent + ":" + e.slot];
      const de = k === undefined ? null : doc.edges[k];
      g.appendChild(el("svg:title", {}, "operand " + e.slot + " of " + e.parent + (de && de.rule ? ": " + de.rule : "")));
      edgeLayer.appendChild(g);
      if (k !== undefined) { edgeEls[k] = g; g._label = null; }
      if (labelled && de && de.local !== null && de.local !== undefined) midpoints.push([g, path, de]);
    }
    // The local gradient along its edge, shown once taken: half way if it is free there, else
    // the first place along the edge (above it, then below) that touches no box and no other label.
    const taken = lay.nodes.map((b) => [b.x - 1, b.y - 1, b.x + b.w + 1, b.y + b.h + 1]);
    const clear = (r) => taken.every((o) => r[2] <= o[0] || o[2] <= r[0] || r[3] <= o[1] || o[3] <= r[1]);
    for (const [g, path, de] of midpoints) {
      const t = el("svg:text", { "text-anchor": "middle", class: "local" }, "∂ " + short(de.local));
      labelLayer.appendChild(t);
      const length = path.getTotalLength();
      let best = null;
      for (const along of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
        const p = path.getPointAtLength(length * along);
        for (const dy of [-5, 15]) {
          t.setAttribute("x", p.x); t.setAttribute("y", p.y + dy);
          const b = t.getBBox(), r = [b.x, b.y, b.x + b.width, b.y + b.height];
          if (!best) best = [p.x, p.y + dy, r];
          if (clear(r)) { best = [p.x, p.y + dy, r]; break; }
        }
        if (clear(best[2])) break;
      }
      t.setAttribute("x", best[0]); t.setAttribute("y", best[1]);
      taken.push(best[2]);
      t.style.display = "none";
      g._label = t;
    }
    nodeEls = lay.nodes.map((b, i) => {
      const g = el("svg:g", { class: "node " + b.role, "data-id": b.id, transform: "translate(" + b.x + "," + b.y + ")",
        tabindex: "0", role: "button", "aria-label": b.lines[0] });
      g.appendChild(el("svg:rect", { width: b.w, height: b.h, rx: b.role === "input" ? Math.min(b.h / 2, 20) : 6 }));
      const line = (y, cls, text) => { const t = el("svg:text", { x: b.w / 2, y, "text-anchor": "middle", class: cls }, text); g.appendChild(t); return t; };
      const cells = b.grid, block = cells ? cells.rows * cells.ch + 4 : 0;
      const lines = b.lines.length;
      const top = (b.h - 18 * lines - block * (lines - 1)) / 2 + 14;
      line(top, "title", b.lines[0]);
      const val = line(top + 18, "val", "");
      const valGrid = cells ? grid(g, b, top + 22) : null;
      const adj = lines > 2 ? line(top + 36 + block, "adj", "") : null;
      const adjGrid = cells && lines > 2 ? grid(g, b, top + 40 + block) : null;
      const badge = el("svg:g", { class: "badge", transform: "translate(" + b.w + ",0)" });
      badge.appendChild(el("svg:circle", { r: 11 }));
      const count = el("svg:text", { "text-anchor": "middle", y: 4 }, "");
      badge.appendChild(count);
      badge.style.display = "none";
      g.appendChild(badge);
      g.appendChild(el("svg:title", {}, b.lines[0]));
      g.addEventListener("click", (ev) => { ev.stopPropagation(); pin(i); });
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); pin(i); } });
      g.addEventListener("mouseenter", () => { if (pinned === null) details(i); });
      g.addEventListener("mouseleave", () => { if (pinned === null) $("bp-details").hidden = true; });
      nodeLayer.appendChild(g);
      return { g, val, adj, badge, count, valGrid, adjGrid };
    });
    shown = lay.nodes.map(() => ({ value: null, adj: undefined, got: -1 }));
    const box = svg.getBBox(); // the drawing and every label on it
    lay.bounds = { x: Math.min(0, box.x) - 4, y: Math.min(0, box.y) - 4,
      w: Math.max(lay.width, box.x + box.width) - Math.min(0, box.x) + 8, h: Math.max(lay.height, box.y + box.height) - Math.min(0, box.y) + 8 };
  }
  function grid(g, b, y) { // the cells a tensor node writes its entries in
    const c = b.grid, x0 = (b.w - c.cols * c.cw) / 2, out = [];
    const block = el("svg:g", { class: "grid", transform: "translate(" + x0 + "," + y + ")" });
    for (let r = 0; r < c.rows; r++) for (let k = 0; k < c.cols; k++) {
      const cell = el("svg:rect", { x: k * c.cw, y: r * c.ch, width: c.cw, height: c.ch, class: "cell" });
      const tip = el("svg:title");
      cell.appendChild(tip);
      block.appendChild(cell);
      const t = c.numbers ? el("svg:text", { x: k * c.cw + c.cw / 2, y: r * c.ch + c.ch - 4, "text-anchor": "middle", class: "entry" }) : null;
      if (t) block.appendChild(t);
      out.push({ cell, tip, t });
    }
    g.appendChild(block);
    return out;
  }
  function fillGrid(cells, v) { // entries coloured by value: orange above zero, blue below, paler nearer 0
    if (!cells) return;
    const flat = v === null || v === undefined ? null : (Array.isArray(v) ? v.flat(Infinity) : [v]);
    const biggest = flat ? flat.reduce((m, x) => Math.max(m, magnitude(x)), 0) : 0;
    cells.forEach((c, j) => {
      const x = flat ? num(flat[j]) : null;
      if (x === null || x === undefined) {
        c.cell.style.fill = ""; c.tip.textContent = ""; if (c.t) c.t.textContent = "";
        return;
      }
      const share = biggest > 0 && isFinite(x) ? Math.round(60 * Math.abs(x) / biggest) : 0;
      c.cell.style.fill = "color-mix(in srgb, var(" + (x < 0 ? "--cell-neg" : "--cell-pos") + ") " + share + "%, var(--bg))";
      c.tip.textContent = full(flat[j]);
      if (c.t) c.t.textContent = short(flat[j]);
    });
  }

  // -- the view on the drawing: fit, zoom, pan ------------------------------------------
  function setView(v) {
    view = v;
    $("bp-graph").setAttribute("viewBox", [v.x, v.y, v.w, v.h].map((n) => n.toFixed(1)).join(" "));
  }
  const READABLE = 12 / 14; // the scale that draws the graph's 14-unit text at 12 px
  function fit() { // the whole drawing in its box, at most 1.8× its size
    document.documentElement.style.setProperty("--bar", $("bp-bar").offsetHeight + "px");
    const box = $("bp-graph-box"), B = lay.bounds;
    const scaleOf = () => Math.min(1.8, Math.max(box.clientWidth, 50) / B.w, Math.max(box.clientHeight, 50) / B.h);
    document.body.classList.remove("stack");
    if (!stacked.matches && scaleOf() < READABLE) { // beside the tables the text would be too small: under them
      document.body.classList.add("stack");
      if (scaleOf() < READABLE) document.body.classList.remove("stack"); // no better: keep the tables in view
    }
    const bw = Math.max(box.clientWidth, 50), bh = Math.max(box.clientHeight, 50);
    const scale = scaleOf();
    const w = bw / scale, h = bh / scale;
    setView({ x: B.x - (w - B.w) / 2, y: B.y - (h - B.h) / 2, w, h });
  }
  function zoom(factor, cx, cy) { // around (cx, cy) in layout units, the centre by default
    if (cx === undefined) { cx = view.x + view.w / 2; cy = view.y + view.h / 2; }
    const w = view.w / factor, h = view.h / factor;
    setView({ x: cx - (cx - view.x) / factor, y: cy - (cy - view.y) / factor, w, h });
  }
  function scaleNow() { return $("bp-graph-box").clientWidth / view.w; }
  function keepInView(i) { // a zoomed-in view follows the current node
    const b = lay.nodes[i];
    if (b.x >= view.x && b.y >= view.y && b.x + b.w <= view.x + view.w && b.y + b.h <= view.y + view.h) return;
    setView({ x: b.x + b.w / 2 - view.w / 2, y: b.y + b.h / 2 - view.h / 2, w: view.w, h: view.h });
  }
  function panning() {
    const svg = $("bp-graph");
    let drag = null;
    svg.addEventListener("pointerdown", (e) => {
      if (e.target.closest(".node")) return;
      drag = { x: e.clientX, y: e.clientY, v: view, moved: false };
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const s = scaleNow(), dx = (e.clientX - drag.x) / s, dy = (e.clientY - drag.y) / s;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      setView({ x: drag.v.x - dx, y: drag.v.y - dy, w: drag.v.w, h: drag.v.h });
    });
    svg.addEventListener("pointerup", () => { if (drag && drag.moved) svg._dragged = true; drag = null; });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect(), s = scaleNow();
      zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, view.x + (e.clientX - r.left) / s, view.y + (e.clientY - r.top) / s);
    }, { passive: false });
  }
  function edgeWidth(v, biggest) {
    const m = magnitude(v);
    return biggest > 0 ? 1.2 + 4.8 * Math.log1p(m) / Math.log1p(biggest) : 1.2;
  }

  // -- showing a step ------------------------------------------------------------------
  function shownAt(k) { return revealAll ? everything() : stateAt(k); }
  function nodeText(i, v, line) { // a number as the graph writes it; an array as the layout sized it
    return Array.isArray(v) && line ? line.slice(2) : short(v);
  }
  function show(k) {
    k = Math.max(0, Math.min(steps.length - 1, k));
    const now = stateAt(k), s = revealAll ? everything() : now, n = doc.nodes.length;
    for (let i = 0; i < n; i++) {
      const e = nodeEls[i], was = shown[i], b = lay.nodes[i];
      const known = i < s.computed;
      if (was.value !== known) {
        e.g.classList.toggle("todo", !known);
        e.val.textContent = known ? "= " + nodeText(i, doc.nodes[i].value, b.lines[1]) : "= ?";
        fillGrid(e.valGrid, known ? doc.nodes[i].value : null);
        was.value = known;
      }
      if (e.adj && (!sameNumber(was.adj, s.adj[i]) || was.complete !== s.complete[i])) {
        const a = s.adj[i];
        e.adj.textContent = a === null ? "∂ ?" : "∂ " + (s.complete[i] ? nodeText(i, a, b.lines[2]) : short(a));
        e.adj.classList.toggle("pending", a === null);
        fillGrid(e.adjGrid, s.complete[i] ? a : null);
        was.adj = a; was.complete = s.complete[i];
      }
      if (was.got !== s.got[i]) {
        const many = states.total[i] > 1 && s.got[i] > 0 && !revealAll;
        e.badge.style.display = many ? "" : "none";
        if (many) e.count.textContent = s.got[i] + "/" + states.total[i];
        was.got = s.got[i];
      }
    }
    const biggest = states.biggest;
    doc.edges.forEach((e, j) => {
      const g = edgeEls[j];
      if (!g) return;
      const done = j < s.edgesDone;
      if (g._done === done) return;
      g._done = done;
      g.classList.toggle("pos", done && sign(e.contribution) > 0);
      g.classList.toggle("neg", done && sign(e.contribution) < 0);
      g.firstChild.style.strokeWidth = done ? edgeWidth(e.contribution, biggest) : "";
      if (g._label) g._label.style.display = done ? "" : "none";
    });
    revealRows(s);
    highlight(k);
    cur = k;
    $("bp-slider").value = k;
    $("bp-counter").textContent = "step " + k + " / " + (steps.length - 1) + " · " + phase(steps[k]);
    $("bp-chain").replaceChildren(...chainLine(steps[k], now));
    $("bp-narration").textContent = narration(steps[k], now);
    if (location.hash !== "#step=" + k) {
      try { history.replaceState(null, "", "#step=" + k); } catch (e) { /* a sandboxed frame (Jupyter) has no URL to keep */ }
    }
    if (steps[k].node !== undefined && view && document.body.classList.contains("large")) keepInView(steps[k].node);
    if (pinned !== null) details(pinned);
  }
  function phase(st) {
    return { start: "start", forward: "forward pass", seed: "backward pass", backward: "backward pass", result: "done" }[st.kind];
  }
  let lit = [];
  function highlight(k) {
    for (const e of lit) e.classList.remove("current");
    lit = [];
    const st = steps[k];
    const mark = (e) => { if (e) { e.classList.add("current"); lit.push(e); } };
    if (st.node !== undefined) mark(nodeEls[st.node].g);
    if (st.kind === "backward") mark(edgeEls[st.edge]);
    if (st.kind === "forward") mark(rowsFwd[st.node] && rowsFwd[st.node].tr);
    if (st.kind === "backward") mark(rowsBwd[st.edge] && rowsBwd[st.edge].tr);
    const row = st.kind === "forward" ? rowsFwd[st.node] : st.kind === "backward" ? rowsBwd[st.edge] : null;
    if (row && !stacked.matches && !document.body.classList.contains("stack")) { // keep the current row in view inside the panel, without moving the page
      const panel = $("bp-panel"), top = row.tr.offsetTop, bottom = top + row.tr.offsetHeight;
      if (top < panel.scrollTop || bottom > panel.scrollTop + panel.clientHeight) panel.scrollTop = top - panel.clientHeight / 3;
    }
  }
  function chainLine(st, s) {
    const parts = [];
    const text = (t) => parts.push(document.createTextNode(t));
    const v = (t) => parts.push(span("v", t));
    const g = (t) => parts.push(span("g", t));
    const out = doc.nodes.length - 1;
    if (st.kind === "start") {
      text(predicting ? "Press → (or ▶ play): before each number is shown, type what you think it is."
        : "Press → (or ▶ play) to run the forward pass, then the backward pass, one step at a time.");
    } else if (st.kind === "forward") {
      const i = st.node, n = doc.nodes[i], b = lay.nodes[i];
      if (n.op === "input") { text("input " + ref(i) + " = "); v(brief(n.value)); }
      else if (n.op === "const") { text("constant "); v(short(n.value)); }
      else {
        text(b.lines[0] + " = "); v(brief(n.value));
        const ops = n.operands.map((o) => ref(nodeIndex(o)) + " = " + short(doc.nodes[nodeIndex(o)].value));
        text("   (" + ops.join(", ") + ")");
      }
      if (n.shape && n.shape.length) text("   shape " + n.shape.join("×"));
    } else if (st.kind === "seed") {
      text("backward pass: " + dL(out) + " = "); g("1"); text("   the output's gradient with respect to itself");
    } else if (st.kind === "backward") {
      const e = doc.edges[st.edge], p = nodeIndex(e.parent), c = nodeIndex(e.child);
      const first = s.got[c] === 1;
      const parentAdj = doc.nodes[p].adjoint;
      if (e.local !== null && e.local !== undefined) {
        text(dL(c) + (first ? " = " : " += ") + dL(p) + " · ∂" + ref(p) + "/∂" + ref(c) + " = ");
        g(short(parentAdj)); text(" · " + short(e.local) + " = "); g(short(e.contribution));
      } else { // a tensor edge: the vector-Jacobian product, in words by its rule
        text(dL(c) + (first ? " = " : " += ")); g(brief(e.contribution));
        text("   from " + e.parent + " by " + (e.rule || "its rule"));
      }
      if (states.total[c] > 1) {
        text("\ncontribution " + s.got[c] + " of " + states.total[c] + " to " + ref(c) + ": " + dL(c) + " = ");
        g(brief(s.adj[c]));
        if (s.got[c] < states.total[c]) text(" so far");
      }
      if (e.formula && e.formula !== e.rule) text("\nlocal gradient: " + e.formula);
    } else {
      text("gradient: ");
      Object.entries(doc.gradient).forEach(([name, val], j) => { if (j) text(", "); text(name + " "); g(brief(val)); });
      text("   (" + checkSummary() + ")");
    }
    return parts;
  }
  // The step in one sentence, for a screen reader (aria-live) and for the room.
  function narration(st, s) {
    if (st.kind === "start") return "start: nothing computed yet";
    if (st.kind === "forward") {
      const i = st.node, n = doc.nodes[i];
      if (n.op === "input") return "forward: input " + ref(i) + " = " + brief(n.value);
      if (n.op === "const") return "forward: constant " + short(n.value);
      return "forward: " + ref(i) + " = " + lay.nodes[i].lines[0].split(": ").slice(1).join(": ") + " = " + brief(n.value);
    }
    if (st.kind === "seed") return "backward: " + dL(st.node) + " = 1";
    if (st.kind === "backward") {
      const e = doc.edges[st.edge], p = nodeIndex(e.parent), c = nodeIndex(e.child);
      const op = s.got[c] === 1 ? " = " : " += ";
      let t = e.local !== null && e.local !== undefined
        ? "backward: " + dL(c) + op + short(doc.nodes[p].adjoint) + " · " + short(e.local) + " = " + short(e.contribution)
        : "backward: " + dL(c) + op + brief(e.contribution) + " (" + (e.rule || "its rule") + ")";
      if (states.total[c] > 1) t += ", " + s.got[c] + " of " + states.total[c] + " contributions, " + dL(c) + " = " + brief(s.adj[c]);
      return t;
    }
    return "done: gradient " + Object.entries(doc.gradient).map(([k, v]) => k + " " + brief(v)).join(", ") + "; " + checkSummary();
  }

  // -- details of a node ---------------------------------------------------------------
  function pin(i) {
    if (pinned !== null) nodeEls[pinned].g.classList.remove("pinned");
    pinned = pinned === i ? null : i;
    if (pinned === null) { $("bp-details").hidden = true; return; }
    nodeEls[i].g.classList.add("pinned");
    details(i);
  }
  function details(i) {
    const n = doc.nodes[i], b = lay.nodes[i], s = shownAt(cur);
    const body = $("bp-details-body");
    const dl = el("dl");
    const row = (k, val, cls) => { dl.appendChild(el("dt", {}, k)); const d = el("dd", cls ? { class: cls } : {}, val); dl.appendChild(d); };
    row("node", n.id + (n.label ? " (" + n.label + ")" : ""));
    row("operation", n.op === "input" ? "input" : n.op === "const" ? "constant" : n.op + ": " + b.show);
    if (n.shape !== undefined) row("shape", n.shape.length ? n.shape.join(" × ") : "scalar");
    row("value", i < s.computed ? full(n.value, 10000) : "not computed yet (step " + (i + 1) + ")");
    if (n.adjoint === null) row("adjoint", "none: depends on no input");
    else if (s.complete[i]) row("adjoint " + dL(i), full(n.adjoint, 10000));
    else row("adjoint " + dL(i), s.adj[i] === null ? "not reached yet" : full(s.adj[i], 10000) + "   (so far: " + s.got[i] + " of " + states.total[i] + " contributions)");
    doc.edges.forEach((e, j) => {
      if (e.parent !== n.id) return;
      const c = nodeIndex(e.child);
      const scalar = e.local !== null && e.local !== undefined;
      const taken = j < s.edgesDone;
      row("∂" + ref(i) + "/∂" + ref(c), (scalar ? (taken ? full(e.local) : "?") : e.rule || "") + (e.formula && e.formula !== e.rule ? "   " + e.formula : ""));
    });
    const uses = doc.edges.filter((e) => e.child === n.id);
    if (uses.length > 1 && s.complete[i]) row("gradient from", uses.map((e) => e.parent + ": " + short(e.contribution)).join(" + ") + " = " + short(n.adjoint));
    body.replaceChildren(el("h2", {}, b.lines[0]), dl);
    $("bp-details").hidden = false;
  }

  // -- the panel: legend, check, tables ---------------------------------------------------------
  function legend() {
    const items = [["l-value", "value (forward)"], ["l-grad", "gradient ∂out/∂node (backward)"], ["l-input", "input"],
      ["l-named", "named"], ["l-output", "output"], ["l-current", "current step"],
      ["l-pos", "positive contribution (thicker: larger |∂|)"], ["l-neg", "negative contribution"]];
    $("bp-legend").replaceChildren(...items.map(([c, t]) => span(c, t)));
  }
  function checkSummary() {
    if (!doc.check) return "not cross-checked";
    const all = Object.values(doc.check);
    const mark = (st) => all.every((c) => c.status === st);
    const sympy = all.some((c) => c.sympy !== null);
    const parts = [];
    if (sympy) parts.push("SymPy " + (doc.ok ? "✓" : "✗"));
    parts.push("finite difference " + (all.every((c) => c.finite_difference !== null) ? "✓" : "–"));
    if (all.some((c) => c.status === "convention")) parts.push("convention at a kink");
    if (mark("mismatch")) parts.push("mismatch");
    return parts.join(" / ");
  }
  function table(title, heads, rows, numeric) {
    const wrap = el("div", { class: "table" });
    wrap.appendChild(el("h3", {}, title));
    const scroll = el("div", { class: "scroll" });
    const t = el("table"), head = el("tr");
    heads.forEach((h) => head.appendChild(el("th", {}, h)));
    t.appendChild(el("thead")).appendChild(head);
    const body = el("tbody"), out = [];
    rows.slice(0, TABLE_ROWS).forEach((r) => {
      const tr = el("tr"), cells = [];
      r.forEach((c, j) => { const td = el("td", numeric.includes(j) ? { class: "n" } : {}, c); tr.appendChild(td); cells.push(td); });
      body.appendChild(tr);
      out.push({ tr, cells, shown: null });
    });
    t.appendChild(body);
    scroll.appendChild(t);
    wrap.appendChild(scroll);
    if (rows.length > TABLE_ROWS) wrap.appendChild(el("p", { class: "more" }, (rows.length - TABLE_ROWS) + " more rows (bp grad --all shows them)"));
    return [wrap, out];
  }
  function ruleName(e) { // the rule the local gradient applies (bp.grad/2 edges carry rule_name)
    return e.rule_name ? " (" + e.rule_name + " rule" + (e.accumulates ? ", accumulated" : "") + ")" : "";
  }
  function mistakePanel() { // bp view --mistake: the wrong pass beside the right one, the first node marked
    const m = doc.mistake;
    if (!m) return [];
    const ids = Object.keys(m.adjoints).reverse();
    const t = table("Mistake: " + m.name + ", beside the right pass", ["node", "label", "right adjoint", "wrong adjoint", "same"],
      ids.map((id) => { const n = doc.nodes[nodeIndex(id)];
        return [id, n.label, full(n.adjoint), full(m.adjoints[id]), id === m.first ? "✗ first" : m.parted.includes(id) ? "✗" : "✓"]; }), [2, 3]);
    t[1].forEach((row, k) => { if (ids[k] === m.first) row.tr.classList.add("mistake-first"); });
    if (m.first !== null) nodeEls[nodeIndex(m.first)].g.classList.add("mistake-first");
    const box = el("div", { id: "bp-mistake" });
    box.append(t[0], el("p", { class: m.first === null ? "immune" : "parted" }, m.verdict));
    return [box];
  }
  let tensorTables = false, gradWrap = null;
  function panel() {
    const c = $("bp-check");
    c.textContent = "";
    if (doc.check) c.appendChild(span(doc.ok ? "ok" : "bad", (doc.ok ? "✓ " : "✗ ") + checkSummary()));
    else c.textContent = "not cross-checked";
    const tensor = tensorTables = doc.nodes.some((n) => n.shape && n.shape.length);
    // Number cells start empty: revealRows fills each in at its step.
    const fwd = table("Forward: a value per node (topological order)",
      ["node", "label", "operation"].concat(tensor ? ["shape"] : []).concat(["value", "adjoint"]),
      doc.nodes.map((n, i) => [n.id, n.label, n.op === "input" ? "input" : n.op === "const" ? "constant " + n.label : lay.nodes[i].show]
        .concat(tensor ? [(n.shape || []).join("×") || "scalar"] : []).concat(["", ""])),
      tensor ? [4, 5] : [3, 4]);
    const bwd = table("Backward: a local gradient per edge, from the output back",
      ["edge", "local gradient", "local", "parent adjoint", "contribution"],
      doc.edges.map((e) => [e.parent + " ← " + e.child, (e.formula || e.rule || "") + ruleName(e), "", "", ""]), [2, 3, 4]);
    const names = Object.keys(doc.gradient);
    const marks = { ok: "✓", convention: "✓ (convention)", mismatch: "✗", skipped: "–" };
    const grad = doc.check
      ? table("Gradient, cross-checked", ["input", "backprop", "SymPy derivative", "SymPy", "finite difference", "check"],
        names.map((n) => { const k = doc.check[n]; return [n, full(k.backprop), k.derivative || "–", k.sympy === null ? "–" : full(k.sympy), full(k.finite_difference), marks[k.status] || k.status]; }), [1, 3, 4])
      : table("Gradient", ["input", "backprop"], names.map((n) => [n, full(doc.gradient[n])]), [1]);
    rowsFwd = fwd[1]; rowsBwd = bwd[1]; gradWrap = grad[0];
    const parts = [fwd[0], bwd[0], grad[0]].concat(mistakePanel());
    if (doc.notes && doc.notes.length) {
      const ul = el("ul", { class: "notes" });
      doc.notes.forEach((n) => ul.appendChild(el("li", {}, "note: " + noteText(n))));
      parts.push(el("h3", {}, "Notes"), ul);
    }
    $("bp-tables").replaceChildren(...parts);
  }
  // Table rows in step with the graph: a node's row once computed (its adjoint once complete),
  // an edge's row once taken; the gradient table and the check at the end.
  function revealRows(s) {
    const vcol = tensorTables ? 4 : 3;
    rowsFwd.forEach((r, i) => {
      const key = (i < s.computed ? 1 : 0) + (s.complete[i] ? 2 : 0);
      if (r.shown === key) return;
      r.shown = key;
      r.tr.hidden = i >= s.computed;
      r.cells[vcol].textContent = i < s.computed ? full(doc.nodes[i].value) : "";
      r.cells[vcol + 1].textContent = s.complete[i] ? full(doc.nodes[i].adjoint) : "";
      r.cells[vcol].classList.toggle("arr", Array.isArray(doc.nodes[i].value));
      r.cells[vcol + 1].classList.toggle("arr", Array.isArray(doc.nodes[i].adjoint));
    });
    rowsBwd.forEach((r, j) => {
      const done = j < s.edgesDone;
      if (r.shown === done) return;
      r.shown = done;
      r.tr.hidden = !done;
      const e = doc.edges[j];
      r.cells[2].textContent = done ? (e.local === null ? "–" : full(e.local)) : "";
      r.cells[3].textContent = done ? full(doc.nodes[nodeIndex(e.parent)].adjoint) : "";
      r.cells[4].textContent = done ? full(e.contribution) : "";
      r.cells[3].classList.toggle("arr", Array.isArray(doc.nodes[nodeIndex(e.parent)].adjoint));
      r.cells[4].classList.toggle("arr", Array.isArray(e.contribution));
    });
    gradWrap.hidden = !s.end;
    $("bp-check").hidden = !s.end;
    if ($("bp-mistake")) $("bp-mistake").hidden = !s.end; // the wrong pass's adjoints are answers too
  }

  // -- predict, then reveal ---------------------------------------------------------------
  // The questions of step k (bp quiz's blanks for the number that step shows), not yet answered.
  function pending(k) {
    if (!predicting || !questions || k <= 0 || k >= steps.length) return [];
    const st = steps[k];
    let key = null;
    if (st.kind === "forward") key = "node:" + doc.nodes[st.node].id;
    else if (st.kind === "backward") { const e = doc.edges[st.edge]; key = "edge:" + e.parent + ":" + e.slot; }
    return key ? (questions.steps[key] || []).filter((q) => !(q.id in score.answered)) : [];
  }
  function within(given, answer) { // bp quiz's is_right, with its tolerance
    if (isNaN(answer)) return isNaN(given);
    return Math.abs(given - answer) <= questions.tolerance * Math.max(1, Math.abs(answer));
  }
  function next() { // → in predict mode asks first
    const ask = pending(cur + 1);
    if (ask.length) { askNow(ask[0], cur + 1); return false; }
    show(cur + 1);
    return true;
  }
  function askNow(q, k) {
    play(false);
    asked = { q, k };
    $("bp-ask-text").textContent = "Predict " + q.ask + ":";
    $("bp-answer").value = "";
    $("bp-feedback").textContent = "";
    $("bp-ask").hidden = false;
    $("bp-narration").textContent = "predict: " + q.ask;
    $("bp-answer").focus();
  }
  function answered(q, right) {
    score.answered[q.id] = right;
    score.asked++;
    if (right) score.right++;
    $("bp-score").textContent = "score " + score.right + " / " + score.asked;
    $("bp-ask").hidden = true;
    const k = asked.k;
    asked = null;
    if (pending(k).length) askNow(pending(k)[0], k);
    else show(k);
  }
  function check() {
    const q = asked.q, given = readNumber($("bp-answer").value);
    if (given === null) { $("bp-feedback").textContent = "type a number (such as -8, 0.5 or 1/3)"; return; }
    if (within(given, q.answer)) { answered(q, true); return; }
    const trap = q.traps.find(([v]) => within(given, num(v)));
    $("bp-feedback").textContent = "not quite: " + (trap ? trap[1] : q.otherwise) + ". Try again, or show the answer.";
    $("bp-narration").textContent = "not quite: " + (trap ? trap[1] : q.otherwise);
  }
  function setPredict(on) {
    predicting = on && !!questions;
    $("bp-predict").checked = predicting;
    $("bp-score").hidden = !predicting;
    if (!predicting) { $("bp-ask").hidden = true; asked = null; }
    if (predicting && revealAll) setReveal(false);
    show(cur);
  }
  function setReveal(all) {
    revealAll = all;
    $("bp-reveal").checked = all;
    if (all && predicting) setPredict(false);
    shown = lay.nodes.map(() => ({ value: null, adj: undefined, got: -1 }));
    edgeEls.forEach((g) => { if (g) g._done = undefined; });
    rowsFwd.concat(rowsBwd).forEach((r) => { r.shown = null; });
    show(cur);
  }

  // -- playback -------------------------------------------------------------------------
  function stepFromHash() {
    const m = /^#step=(\d+)$/.exec(location.hash);
    return m ? parseInt(m[1], 10) : 0;
  }
  function play(on) {
    if (timer) { clearInterval(timer); timer = null; }
    if (on) {
      if (cur >= steps.length - 1) show(0);
      timer = setInterval(() => { if (!next() || cur >= steps.length - 1) play(false); }, +$("bp-speed").value);
    }
    $("bp-play").textContent = timer ? "⏸ pause" : "▶ play";
  }
  function large(on) {
    document.body.classList.toggle("large", on);
    $("bp-large").setAttribute("aria-pressed", on ? "true" : "false");
    fit();
    if (on) zoom(LARGE_ZOOM);
  }
  function controls() {
    $("bp-first").onclick = () => { play(false); show(0); };
    $("bp-prev").onclick = () => { play(false); show(cur - 1); };
    $("bp-next").onclick = () => { play(false); next(); };
    $("bp-last").onclick = () => { play(false); show(steps.length - 1); };
    $("bp-play").onclick = () => play(!timer);
    $("bp-speed").onchange = () => { if (timer) play(true); };
    $("bp-slider").oninput = (e) => { play(false); show(+e.target.value); };
    $("bp-large").onclick = () => large(!document.body.classList.contains("large"));
    $("bp-zoom-in").onclick = () => zoom(1.25);
    $("bp-zoom-out").onclick = () => zoom(1 / 1.25);
    $("bp-fit").onclick = () => fit();
    $("bp-reveal").onchange = (e) => setReveal(e.target.checked);
    $("bp-predict").onchange = (e) => setPredict(e.target.checked);
    $("bp-ask").addEventListener("submit", (e) => { e.preventDefault(); check(); });
    $("bp-give-up").onclick = () => { if (asked) answered(asked.q, false); };
    $("bp-theme").onclick = () => {
      const dark = document.documentElement.dataset.theme !== "dark";
      document.documentElement.dataset.theme = dark ? "dark" : "light";
    };
    $("bp-details-close").onclick = () => { if (pinned !== null) pin(pinned); else $("bp-details").hidden = true; };
    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("input:not([type=checkbox]), select, textarea")) return;
      const keys = { ArrowRight: () => next(), ArrowLeft: () => show(cur - 1), Home: () => show(0),
        End: () => show(steps.length - 1), " ": () => play(!timer), "+": () => zoom(1.25), "=": () => zoom(1.25),
        "-": () => zoom(1 / 1.25), "0": () => fit() };
      const act = keys[e.key];
      if (!act || (e.key === " " && e.target.closest && e.target.closest("button"))) return;
      e.preventDefault();
      if (e.key !== " ") play(false);
      act();
    });
    window.addEventListener("resize", () => { if (lay) fit(); });
    window.addEventListener("hashchange", () => { const k = stepFromHash(); if (k !== cur) show(k); });
    if (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) document.documentElement.dataset.theme = "dark";
  }

  // -- the server's form (bp serve) ----------------------------------------------------------
  function shapeHint(text) { // what a value box holds: a number, or a JSON array's shape
    text = text.trim();
    if (!text.startsWith("[")) return readNumber(text) === null && text ? "not a number" : "number";
    try { const v = JSON.parse(text); return Array.isArray(v) ? "array " + shapeOf(v).join("×") : "not an array"; } catch (e) { return "not JSON yet"; }
  }
  function fields(names, defaults) {
    const box = $("bp-fields");
    const old = {};
    box.querySelectorAll("input").forEach((i) => { old[i.name] = i.value; });
    box.replaceChildren(...names.map((name) => {
      const l = el("label", {}, name + " ");
      const value = old[name] !== undefined ? old[name] : defaults && defaults[name] !== undefined ? fieldText(defaults[name]) : "1";
      const input = el("input", { name, value, "data-input": name, spellcheck: "false", "aria-describedby": "bp-hint-" + name });
      const hint = el("small", { id: "bp-hint-" + name, class: "shape" }, shapeHint(value));
      input.addEventListener("input", () => { hint.textContent = shapeHint(input.value); });
      l.appendChild(input);
      l.appendChild(hint);
      return l;
    }));
  }
  function fieldText(v) { return Array.isArray(v) ? JSON.stringify(v) : full(v).replace(/\.0$/, ""); }
  function values() {
    const out = {};
    $("bp-fields").querySelectorAll("input").forEach((i) => {
      const t = i.value.trim();
      if (t.startsWith("[")) { try { out[i.name] = JSON.parse(t); return; } catch (e) { /* sent as text: bp says why */ } }
      out[i.name] = i.value;
    });
    return out;
  }
  async function post(body) {
    const r = await fetch(data.api, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return [r.ok, await r.json()];
  }
  let typing = 0;
  async function followInputs() { // the value boxes follow the inputs of the formula as it is typed
    const mine = ++typing;
    let ok, answer;
    try { [ok, answer] = await post({ formula: $("bp-formula").value, inputs_only: true }); } catch (e) { return; }
    if (mine !== typing || !ok || !answer.inputs) return;
    fields(answer.inputs);
  }
  async function submit(ev) {
    ev.preventDefault();
    const err = $("bp-error"), box = $("bp-formula");
    err.textContent = "";
    box.removeAttribute("aria-invalid");
    let ok, answer;
    try { [ok, answer] = await post({ formula: box.value, values: values(), questions: true }); } catch (e) { err.textContent = "bp serve did not answer: " + e; return; }
    if (!ok) { err.textContent = answer.error + (answer.caret ? "\n" + answer.caret : ""); pointAt(box, answer.position); return; }
    const keep = cur; // a new value keeps the learner's step
    load(answer, keep);
    if (answer.defaulted && answer.defaulted.length) {
      err.textContent = "no value was given for " + answer.defaulted.join(", ") + ": 1 is used until you change it";
    }
  }

  // The error's place in the formula box: the box marked invalid, the character there selected
  // (bp counts characters; JavaScript's strings count UTF-16 units).
  function pointAt(box, position) {
    if (!position) return;
    const chars = Array.from(box.value);
    const at = chars.slice(0, position.offset).join("").length;
    const end = at + (position.offset < chars.length ? chars[position.offset].length : 0);
    box.setAttribute("aria-invalid", "true");
    box.focus();
    box.setSelectionRange(at, end);
  }

  function load(d, keep) {
    doc = d.document; lay = d.layout;
    questions = d.questions || null;
    $("bp-title").textContent = doc.formula;
    buildSteps(d.steps);
    drawGraph();
    fit();
    panel();
    cur = -1;
    if (pinned !== null) { pinned = null; $("bp-details").hidden = true; }
    $("bp-slider").max = steps.length - 1;
    $("bp-predict").disabled = !questions;
    $("bp-predict-label").title = questions ? "type each number before it is shown" : (d.no_questions || "predict mode's questions come with the page bp view writes and bp serve serves");
    if (data.mode === "serve") { $("bp-formula").value = doc.formula; fields(Object.keys(doc.inputs), doc.inputs); }
    if (!questions && predicting) setPredict(false);
    show(Math.min(keep === undefined ? stepFromHash() : keep, steps.length - 1));
    if (document.body.classList.contains("large")) zoom(LARGE_ZOOM);
  }
  legend();
  controls();
  panning();
  $("bp-large").setAttribute("aria-pressed", document.body.classList.contains("large") ? "true" : "false");
  if (data.mode === "serve") {
    $("bp-form").hidden = false;
    $("bp-form").addEventListener("submit", submit);
    let wait = null;
    $("bp-formula").addEventListener("input", (e) => {
      e.target.removeAttribute("aria-invalid");
      clearTimeout(wait);
      wait = setTimeout(followInputs, 150);
    });
  }
  $("bp-graph").addEventListener("click", (e) => {
    if ($("bp-graph")._dragged) { $("bp-graph")._dragged = false; return; }
    if (pinned !== null) pin(pinned);
  });
  $("bp-reveal").checked = revealAll;
  load(data);
  if (data.predict) setPredict(true);
  document.body.dataset.ready = "1";
})();
