// bp's page: the graph of one formula, its forward and backward pass step by step.
// Reads the document `bp grad --json` prints (schema bp.grad/1 or /2) and the layout bp
// computed; needs no network. Steps: 0 the start, then one per node (forward, in
// topological order), the seed ∂L/∂L = 1, one per edge (backward), and the result.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("bp-data").textContent);
  const LABELLED_EDGES = 300; // larger graphs carry their edge numbers in tooltips only
  const TABLE_ROWS = 500;
  let doc, lay, steps, states, cur = -1, timer = null, pinned = null, hovered = null;
  let nodeEls = [], edgeEls = [], edgeIndex = {}, rowsFwd = [], rowsBwd = [], shown = [];

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
  function full(v) { // as Python prints a float: shortest text that reads back exactly
    if (v === null || v === undefined) return "–";
    if (Array.isArray(v)) return arrayText(v);
    v = num(v);
    if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    if (Number.isInteger(v) && Math.abs(v) < 1e16) return v.toFixed(1);
    return String(v).replace(/e([+-])(\d)$/, "e$10$2");
  }
  function arrayText(v) { // nested lists, at most 100 numbers, as numpy prints them
    let count = 0;
    const walk = (x) => {
      if (!Array.isArray(x)) { count++; return count > 100 ? "…" : short(x); }
      return "[" + x.map(walk).filter((t, i, all) => t !== "…" || all.indexOf("…") === i).join(", ") + "]";
    };
    return walk(v);
  }
  function brief(v) { // a small array in full (up to 6 numbers), a larger one by its shape
    return Array.isArray(v) && v.flat(Infinity).length <= 6 ? arrayText(v) : short(v);
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
    for (let i = 0; i < n; i++) { // complete sums show bp's own adjoint, to the last bit
      if (adj[i] !== null && got[i] === states.total[i]) adj[i] = doc.nodes[i].adjoint;
    }
    return { computed, adj, got, edgesDone: k > n + 1 ? k - n - 1 : 0 };
  }

  // -- the graph ---------------------------------------------------------------------
  function drawGraph() {
    const svg = $("bp-graph");
    svg.textContent = "";
    svg.setAttribute("viewBox", "0 0 " + lay.width + " " + lay.height);
    fit();
    const defs = el("svg:defs");
    // Graphviz ends an edge where its arrowhead (10 units) begins; bp's layout does the same.
    const marker = el("svg:marker", { id: "bp-arrow", viewBox: "0 0 10 10", refX: "0", refY: "5", markerWidth: "10", markerHeight: "8", markerUnits: "userSpaceOnUse", orient: "auto" });
    marker.appendChild(el("svg:path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const edgeLayer = el("svg:g"), nodeLayer = el("svg:g");
    svg.appendChild(edgeLayer);
    svg.appendChild(nodeLayer);
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
      const child = doc.nodes[nodeIndex(e.child)];
      let tip = "operand " + e.slot + " of " + e.parent + ": value " + full(child.value);
      if (de) tip += de.local !== null && de.local !== undefined ? ", local gradient " + full(de.local) : ", " + (de.rule || "");
      g.appendChild(el("svg:title", {}, tip));
      edgeLayer.appendChild(g);
      if (k !== undefined) edgeEls[k] = g;
      if (labelled && de && de.local !== null && de.local !== undefined) midpoints.push([g, path, de]);
    }
    for (const [g, path, de] of midpoints) { // the local gradient, half way along its edge
      const p = path.getPointAtLength(path.getTotalLength() / 2);
      g.appendChild(el("svg:text", { x: p.x + 3, y: p.y - 4, class: "local" }, "∂ " + short(de.local)));
    }
    nodeEls = lay.nodes.map((b, i) => {
      const g = el("svg:g", { class: "node " + b.role, "data-id": b.id, transform: "translate(" + b.x + "," + b.y + ")" });
      g.appendChild(el("svg:rect", { width: b.w, height: b.h, rx: b.role === "input" ? b.h / 2 : 6 }));
      const line = (y, cls, text) => { const t = el("svg:text", { x: b.w / 2, y, "text-anchor": "middle", class: cls }, text); g.appendChild(t); return t; };
      const top = (b.h - 18 * b.lines.length) / 2 + 14;
      line(top, "title", b.lines[0]);
      const val = line(top + 18, "val", "");
      const adj = b.lines.length > 2 ? line(top + 36, "adj", "") : null;
      const badge = el("svg:g", { class: "badge", transform: "translate(" + b.w + ",0)" });
      badge.appendChild(el("svg:circle", { r: 11 }));
      const count = el("svg:text", { "text-anchor": "middle", y: 4 }, "");
      badge.appendChild(count);
      badge.style.display = "none";
      g.appendChild(badge);
      g.appendChild(el("svg:title", {}, b.lines.join("\n")));
      g.addEventListener("click", (ev) => { ev.stopPropagation(); pin(i); });
      g.addEventListener("mouseenter", () => { hovered = i; if (pinned === null) details(i); });
      g.addEventListener("mouseleave", () => { hovered = null; if (pinned === null) $("bp-details").hidden = true; });
      nodeLayer.appendChild(g);
      return { g, val, adj, badge, count };
    });
    shown = lay.nodes.map(() => ({ value: null, adj: undefined, got: -1 }));
  }
  function fit() { // a small graph grows to fill its box (up to 1.8×), a large one shrinks (to 0.6×), then scrolls
    const box = $("bp-graph-box"), svg = $("bp-graph");
    const scale = Math.max(0.6, Math.min(1.8, (box.clientWidth - 8) / lay.width, (box.clientHeight - 8) / lay.height));
    svg.setAttribute("width", Math.round(lay.width * scale));
    svg.setAttribute("height", Math.round(lay.height * scale));
  }
  function edgeWidth(v, biggest) {
    const m = magnitude(v);
    return biggest > 0 ? 1.2 + 4.8 * Math.log1p(m) / Math.log1p(biggest) : 1.2;
  }

  // -- showing a step ------------------------------------------------------------------
  function show(k) {
    k = Math.max(0, Math.min(steps.length - 1, k));
    const s = stateAt(k), n = doc.nodes.length;
    for (let i = 0; i < n; i++) {
      const e = nodeEls[i], was = shown[i];
      const known = i < s.computed;
      if (was.value !== known) {
        e.g.classList.toggle("todo", !known);
        e.val.textContent = known ? "= " + short(doc.nodes[i].value) : "= ?";
        was.value = known;
      }
      if (e.adj && !sameNumber(was.adj, s.adj[i])) {
        e.adj.textContent = s.adj[i] === null ? "∂ ?" : "∂ " + short(s.adj[i]);
        e.adj.classList.toggle("pending", s.adj[i] === null);
        was.adj = s.adj[i];
      }
      if (was.got !== s.got[i]) {
        const many = states.total[i] > 1 && s.got[i] > 0;
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
    });
    highlight(k);
    cur = k;
    $("bp-slider").value = k;
    $("bp-counter").textContent = "step " + k + " / " + (steps.length - 1) + " · " + phase(steps[k]);
    $("bp-chain").replaceChildren(...chainLine(steps[k], s));
    if (location.hash !== "#step=" + k) {
      try { history.replaceState(null, "", "#step=" + k); } catch (e) { /* a sandboxed frame (Jupyter) has no URL to keep */ }
    }
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
    if (st.kind === "forward") mark(rowsFwd[st.node]);
    if (st.kind === "backward") mark(rowsBwd[st.edge]);
    const row = st.kind === "forward" ? rowsFwd[st.node] : st.kind === "backward" ? rowsBwd[st.edge] : null;
    if (row) { // keep the current row in view inside the panel, without moving the page
      const panel = $("bp-panel"), top = row.offsetTop, bottom = top + row.offsetHeight;
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
      text("Press → (or ▶ play) to run the forward pass, then the backward pass, one step at a time.");
    } else if (st.kind === "forward") {
      const i = st.node, n = doc.nodes[i], b = lay.nodes[i];
      if (n.op === "input") { text("input " + ref(i) + " = "); v(short(n.value)); }
      else if (n.op === "const") { text("constant "); v(short(n.value)); }
      else {
        text(b.lines[0] + " = "); v(short(n.value));
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

  // -- details of a node ---------------------------------------------------------------
  function pin(i) {
    if (pinned !== null) nodeEls[pinned].g.classList.remove("pinned");
    pinned = pinned === i ? null : i;
    if (pinned === null) { $("bp-details").hidden = true; return; }
    nodeEls[i].g.classList.add("pinned");
    details(i);
  }
  function details(i) {
    const n = doc.nodes[i], b = lay.nodes[i], s = stateAt(cur);
    const body = $("bp-details-body");
    const dl = el("dl");
    const row = (k, val, cls) => { dl.appendChild(el("dt", {}, k)); const d = el("dd", cls ? { class: cls } : {}, val); dl.appendChild(d); };
    row("node", n.id + (n.label ? " (" + n.label + ")" : ""));
    row("operation", n.op === "input" ? "input" : n.op === "const" ? "constant" : n.op + ": " + b.show);
    if (n.shape !== undefined) row("shape", n.shape.length ? n.shape.join(" × ") : "scalar");
    row("value", i < s.computed ? full(n.value) : "not computed yet (step " + (i + 1) + ")");
    if (n.adjoint === null) row("adjoint", "none: depends on no input");
    else row("adjoint " + dL(i), full(n.adjoint) + (s.got[i] < states.total[i] ? "   (at this step: " + (s.adj[i] === null ? "not reached" : full(s.adj[i])) + ")" : ""));
    doc.edges.filter((e) => e.parent === n.id).forEach((e) => {
      const c = nodeIndex(e.child);
      const scalar = e.local !== null && e.local !== undefined;
      row("∂" + ref(i) + "/∂" + ref(c), (scalar ? full(e.local) : e.rule || "") + (e.formula && e.formula !== e.rule ? "   " + e.formula : ""));
    });
    const uses = doc.edges.filter((e) => e.child === n.id);
    if (uses.length > 1) row("gradient from", uses.map((e) => e.parent + ": " + short(e.contribution)).join(" + ") + " = " + short(n.adjoint));
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
    const wrap = el("div");
    wrap.appendChild(el("h3", {}, title));
    const t = el("table"), head = el("tr");
    heads.forEach((h) => head.appendChild(el("th", {}, h)));
    t.appendChild(el("thead")).appendChild(head);
    const body = el("tbody"), out = [];
    rows.slice(0, TABLE_ROWS).forEach((r) => {
      const tr = el("tr");
      r.forEach((c, j) => tr.appendChild(el("td", numeric.includes(j) ? { class: "n" } : {}, c)));
      body.appendChild(tr);
      out.push(tr);
    });
    t.appendChild(body);
    wrap.appendChild(t);
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
        return [id, n.label, full(n.adjoint), full(m.adjoints[id]), id === m.first ? "✗ first" : sameNumber(n.adjoint, m.adjoints[id]) ? "✓" : "✗"]; }), [2, 3]);
    t[1].forEach((tr, k) => { if (ids[k] === m.first) tr.classList.add("mistake-first"); });
    if (m.first !== null) nodeEls[nodeIndex(m.first)].g.classList.add("mistake-first");
    const box = el("div", { id: "bp-mistake" });
    box.append(t[0], el("p", { class: m.first === null ? "immune" : "parted" }, m.verdict));
    return [box];
  }
  function panel() {
    const c = $("bp-check");
    c.textContent = "";
    if (doc.check) c.appendChild(span(doc.ok ? "ok" : "bad", (doc.ok ? "✓ " : "✗ ") + checkSummary()));
    else c.textContent = "not cross-checked (--no-check)";
    const tensor = doc.nodes.some((n) => n.shape && n.shape.length);
    const fwd = table("Forward: a value per node (topological order)",
      ["node", "label", "operation"].concat(tensor ? ["shape"] : []).concat(["value", "adjoint"]),
      doc.nodes.map((n, i) => [n.id, n.label, n.op === "input" ? "input" : n.op === "const" ? "constant " + n.label : lay.nodes[i].show]
        .concat(tensor ? [(n.shape || []).join("×") || "scalar"] : []).concat([full(n.value), full(n.adjoint)])),
      tensor ? [4, 5] : [3, 4]);
    const bwd = table("Backward: a local gradient per edge, from the output back",
      ["edge", "local gradient", "local", "parent adjoint", "contribution"],
      doc.edges.map((e) => [e.parent + " ← " + e.child, (e.formula || e.rule || "") + ruleName(e), e.local === null ? "–" : full(e.local),
        full(doc.nodes[nodeIndex(e.parent)].adjoint), full(e.contribution)]), [2, 3, 4]);
    const names = Object.keys(doc.gradient);
    const marks = { ok: "✓", convention: "✓ (convention)", mismatch: "✗", skipped: "–" };
    const grad = doc.check
      ? table("Gradient, cross-checked", ["input", "backprop", "SymPy derivative", "SymPy", "finite difference", "check"],
        names.map((n) => { const k = doc.check[n]; return [n, full(k.backprop), k.derivative || "–", k.sympy === null ? "–" : full(k.sympy), full(k.finite_difference), marks[k.status] || k.status]; }), [1, 3, 4])
      : table("Gradient", ["input", "backprop"], names.map((n) => [n, full(doc.gradient[n])]), [1]);
    rowsFwd = fwd[1]; rowsBwd = bwd[1];
    const parts = [fwd[0], bwd[0], grad[0]].concat(mistakePanel());
    if (doc.notes && doc.notes.length) {
      const ul = el("ul", { class: "notes" });
      doc.notes.forEach((n) => ul.appendChild(el("li", {}, "note: " + noteText(n))));
      parts.push(el("h3", {}, "Notes"), ul);
    }
    $("bp-tables").replaceChildren(...parts);
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
      timer = setInterval(() => { show(cur + 1); if (cur >= steps.length - 1) play(false); }, +$("bp-speed").value);
    }
    $("bp-play").textContent = timer ? "⏸ pause" : "▶ play";
  }
  function controls() {
    $("bp-first").onclick = () => { play(false); show(0); };
    $("bp-prev").onclick = () => { play(false); show(cur - 1); };
    $("bp-next").onclick = () => { play(false); show(cur + 1); };
    $("bp-last").onclick = () => { play(false); show(steps.length - 1); };
    $("bp-play").onclick = () => play(!timer);
    $("bp-speed").onchange = () => { if (timer) play(true); };
    $("bp-slider").oninput = (e) => { play(false); show(+e.target.value); };
    $("bp-large").onclick = () => document.body.classList.toggle("large");
    $("bp-theme").onclick = () => {
      const dark = document.documentElement.dataset.theme !== "dark";
      document.documentElement.dataset.theme = dark ? "dark" : "light";
    };
    $("bp-details-close").onclick = () => { if (pinned !== null) pin(pinned); else $("bp-details").hidden = true; };
    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("input, select, textarea")) return;
      const keys = { ArrowRight: () => show(cur + 1), ArrowLeft: () => show(cur - 1), Home: () => show(0),
        End: () => show(steps.length - 1), " ": () => play(!timer) };
      const act = keys[e.key];
      if (!act) return;
      e.preventDefault();
      if (e.key !== " ") play(false);
      act();
    });
    window.addEventListener("resize", () => { if (lay) fit(); });
    window.addEventListener("hashchange", () => { const k = stepFromHash(); if (k !== cur) show(k); });
    if (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) document.documentElement.dataset.theme = "dark";
  }

  // -- the server's form (bp serve) ----------------------------------------------------------
  function fields(inputs) {
    const box = $("bp-fields");
    const old = {};
    box.querySelectorAll("input").forEach((i) => { old[i.name] = i.value; });
    box.replaceChildren(...Object.entries(inputs).map(([name, v]) => {
      const l = el("label", {}, name + " ");
      l.appendChild(el("input", { name, value: old[name] !== undefined ? old[name] : full(v), "data-input": name }));
      return l;
    }));
  }
  async function submit(ev) {
    ev.preventDefault();
    const values = {};
    $("bp-fields").querySelectorAll("input").forEach((i) => { values[i.name] = i.value; });
    const err = $("bp-error"), box = $("bp-formula");
    err.textContent = "";
    box.removeAttribute("aria-invalid");
    let answer;
    try {
      const r = await fetch(data.api, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ formula: box.value, values }) });
      answer = await r.json();
      if (!r.ok) { err.textContent = answer.error + (answer.caret ? "\n" + answer.caret : ""); pointAt(box, answer.position); return; }
    } catch (e) { err.textContent = "bp serve did not answer: " + e; return; }
    load(answer);
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

  function load(d) {
    doc = d.document; lay = d.layout;
    $("bp-title").textContent = doc.formula;
    buildSteps(d.steps);
    drawGraph();
    panel();
    cur = -1;
    if (pinned !== null) { pinned = null; $("bp-details").hidden = true; }
    $("bp-slider").max = steps.length - 1;
    if (data.mode === "serve") { $("bp-formula").value = doc.formula; fields(doc.inputs); }
    show(Math.min(stepFromHash(), steps.length - 1));
  }
  legend();
  controls();
  if (data.mode === "serve") {
    $("bp-form").hidden = false;
    $("bp-form").addEventListener("submit", submit);
    $("bp-formula").addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  }
  $("bp-graph").addEventListener("click", () => { if (pinned !== null) pin(pinned); });
  load(data);
  document.body.dataset.ready = "1";
})();
