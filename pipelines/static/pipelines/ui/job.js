/* One job: header from exec/status, the pipeline graph (SVG) and node table from
   graph/parsed, batch items paged from graph/parsed?node=..&from=..&to=... Refreshes every
   2 seconds until the job is final. */
(function () {
  "use strict";
  const { el, svg, formatTime, formatDuration, getJSON, readConfig } = window.HK;
  const config = readConfig("job-config");
  const FINAL = new Set(config.finalStatuses);
  const JOB = encodeURIComponent(config.jobId);
  const PAGE = config.pageSize;
  const REFRESH_MS = 2000;
  const SORTS = ["batchIndex", "status", "startTime", "endTime", "error"];

  // nodeName -> {from, sort, order, items, total, error}: the item panels that are open.
  const panels = new Map();
  let jobFinal = config.final;
  let startTime = null;

  // --- header ------------------------------------------------------------------------------
  function renderStatus(status) {
    const badge = document.getElementById("job-status");
    badge.className = `badge status-${status.status}`;
    badge.textContent = status.status;
    const data = status.data || {};
    const bar = document.getElementById("job-progress-bar");
    bar.className = `bar-fill status-${status.status}`;
    bar.style.width = `${Number(data.progress) || 0}%`;
    document.getElementById("job-details").textContent = data.details || "";
    const start = document.getElementById("job-start");
    startTime = Number(start.dataset.ms) || null;
    start.textContent = formatTime(startTime);
    const final = FINAL.has(status.status);
    document.getElementById("job-end").textContent = final ? formatTime(status.timestamp) : "";
    let took = "";
    if (status.grossTimeTook !== undefined) took = `${status.grossTimeTook} s`;
    else if (startTime) took = `${formatDuration(Date.now() - startTime)} so far`;
    document.getElementById("job-took").textContent = took;
    const error = document.getElementById("job-error");
    error.hidden = !status.error;
    error.textContent = status.error ? (status.nodeName ? `${status.nodeName}: ` : "") + status.error : "";
    const reason = document.getElementById("job-reason");
    reason.hidden = !status.reason;
    reason.textContent = status.reason || "";
  }

  // --- counts ------------------------------------------------------------------------------
  function counts(node) {
    const states = node.states || {};
    const total = node.batchInfo ? node.batchInfo.total : 1;
    return {
      succeed: states.succeed || 0,
      failed: (states.failed || 0) + (states.crashed || 0),
      running: (states.active || 0) + (states.storing || 0),
      total,
    };
  }

  // --- graph -------------------------------------------------------------------------------
  const NODE_W = 180;
  const NODE_H = 64;
  const COL_GAP = 100;
  const ROW_GAP = 28;
  const PAD = 24;

  function columns(nodes, edges) {
    // Longest path from a source, so every edge points right; HKube's `level` (a BFS depth)
    // can put a parent and its child in one column. A cycle (streaming) falls back to level.
    const col = new Map(nodes.map((n) => [n.nodeName, 0]));
    let changed = true;
    for (let round = 0; changed && round <= nodes.length; round += 1) {
      changed = false;
      for (const e of edges) {
        if (col.has(e.from) && col.has(e.to) && col.get(e.to) < col.get(e.from) + 1) {
          col.set(e.to, col.get(e.from) + 1);
          changed = true;
        }
      }
    }
    if (changed) return new Map(nodes.map((n) => [n.nodeName, Math.max(0, n.level)]));
    return col;
  }

  function layout(nodes, edges) {
    const col = columns(nodes, edges);
    const byCol = new Map();
    nodes.forEach((n, index) => {
      const c = col.get(n.nodeName);
      if (!byCol.has(c)) byCol.set(c, []);
      byCol.get(c).push({ node: n, index });
    });
    const order = [...byCol.keys()].sort((a, b) => a - b);
    const rows = Math.max(...order.map((c) => byCol.get(c).length));
    const pos = new Map();
    const rank = new Map();
    order.forEach((c, x) => {
      const members = byCol.get(c);
      // Barycenter of the parents' rows keeps crossings down; descriptor order breaks ties.
      const weight = (m) => {
        const parents = edges.filter((e) => e.to === m.node.nodeName && rank.has(e.from));
        if (!parents.length) return m.index;
        return parents.reduce((sum, e) => sum + rank.get(e.from), 0) / parents.length;
      };
      members.sort((a, b) => weight(a) - weight(b) || a.index - b.index);
      const offset = ((rows - members.length) * (NODE_H + ROW_GAP)) / 2;
      members.forEach((m, y) => {
        rank.set(m.node.nodeName, y + (rows - members.length) / 2);
        pos.set(m.node.nodeName, {
          x: PAD + x * (NODE_W + COL_GAP),
          y: PAD + offset + y * (NODE_H + ROW_GAP),
        });
      });
    });
    return {
      pos,
      width: PAD * 2 + order.length * NODE_W + (order.length - 1) * COL_GAP,
      height: PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP,
    };
  }

  function edgeLabel(types) {
    if (types.includes("waitAny")) return "waitAny";
    if (types.includes("waitAnyBatch")) return "waitAnyBatch";
    if (types.includes("waitBatch")) return "batch";
    return "";
  }

  function clip(text, max) {
    const s = String(text || "");
    return s.length > max ? `${s.slice(0, max - 1)}…` : s;
  }

  function drawEdge(layer, labels, edge, from, to) {
    const x1 = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2;
    let d;
    let mid;
    if (to.x > from.x) {
      const x2 = to.x - 2;
      const y2 = to.y + NODE_H / 2;
      const bend = Math.max(30, (x2 - x1) / 2);
      d = `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
      mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
    } else {
      // Same column (or a cycle): loop out to the right and back into the target's right side.
      const x2 = to.x + NODE_W + 2;
      const y2 = to.y + NODE_H / 2;
      d = `M${x1},${y1} C${x1 + 60},${y1} ${x2 + 60},${y2} ${x2},${y2}`;
      mid = { x: x1 + 45, y: (y1 + y2) / 2 };
    }
    const types = (edge.value && edge.value.types) || [];
    layer.appendChild(svg("path", { d, class: `edge ${edgeLabel(types) ? "edge-typed" : ""}`, "marker-end": "url(#arrow)" }, svg("title", { text: `${edge.from} → ${edge.to}: ${types.join(", ")}` })));
    const label = edgeLabel(types);
    if (label) labels.appendChild(svg("text", { x: mid.x, y: mid.y - 6, class: "edge-label", "text-anchor": "middle", text: label }));
  }

  function drawNode(layer, node, p) {
    const status = node.status || "creating";
    const tip = [`${node.nodeName} (${node.algorithmName || "-"})`, status];
    if (node.error) tip.push(node.error);
    const g = svg("g", {
      class: `node node-${status}`,
      transform: `translate(${p.x},${p.y})`,
      tabindex: 0,
      "data-node": node.nodeName,
      onclick: () => focusNode(node),
    }, [
      svg("title", { text: tip.join("\n") }),
      svg("rect", { width: NODE_W, height: NODE_H, rx: 8, ry: 8 }),
      svg("text", { x: 12, y: 22, class: "node-name", text: clip(node.nodeName, node.batchInfo ? 14 : 20) }),
      svg("text", { x: 12, y: 40, class: "node-alg", text: clip(node.algorithmName, 26) }),
    ]);
    if (node.batchInfo) {
      const c = counts(node);
      const width = NODE_W - 24;
      const ok = c.total ? (width * c.succeed) / c.total : 0;
      const bad = c.total ? (width * c.failed) / c.total : 0;
      const run = c.total ? (width * c.running) / c.total : 0;
      g.appendChild(svg("text", { x: NODE_W - 12, y: 22, class: "node-count", "text-anchor": "end", text: `${c.succeed}/${c.total}` }));
      g.appendChild(svg("rect", { x: 12, y: 50, width, height: 6, rx: 3, class: "mini-bar" }));
      if (ok) g.appendChild(svg("rect", { x: 12, y: 50, width: ok, height: 6, rx: 3, class: "mini-ok" }));
      if (bad) g.appendChild(svg("rect", { x: 12 + ok, y: 50, width: bad, height: 6, rx: 3, class: "mini-bad" }));
      if (run) g.appendChild(svg("rect", { x: 12 + ok + bad, y: 50, width: run, height: 6, rx: 3, class: "mini-run" }));
    } else {
      g.appendChild(svg("text", { x: 12, y: 56, class: "node-state", text: status }));
    }
    layer.appendChild(g);
  }

  function renderGraph(graph) {
    const root = document.getElementById("graph");
    if (!graph.nodes.length) {
      root.replaceChildren();
      return;
    }
    const { pos, width, height } = layout(graph.nodes, graph.edges);
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.setAttribute("width", width);
    root.setAttribute("height", height);
    const defs = svg("defs", {}, svg("marker", {
      id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" })));
    const edges = svg("g", { class: "edges" });
    const labels = svg("g", { class: "edge-labels" });
    const nodes = svg("g", { class: "nodes" });
    for (const edge of graph.edges) {
      if (pos.has(edge.from) && pos.has(edge.to)) drawEdge(edges, labels, edge, pos.get(edge.from), pos.get(edge.to));
    }
    for (const node of graph.nodes) drawNode(nodes, node, pos.get(node.nodeName));
    root.replaceChildren(defs, edges, nodes, labels);
  }

  // --- node table and item panels --------------------------------------------------------------
  function focusNode(node) {
    if (node.batchInfo && !panels.has(node.nodeName)) togglePanel(node.nodeName);
    const row = document.getElementById(`node-${node.nodeName}`);
    if (row) row.scrollIntoView({ behavior: "smooth", block: "center" });
  }

  function togglePanel(name) {
    if (panels.has(name)) panels.delete(name);
    else panels.set(name, { from: 0, sort: "batchIndex", order: "asc", items: null, total: 0, error: "" });
    renderNodes(lastGraph);
    if (panels.has(name)) loadItems(name);
  }

  let lastGraph = { nodes: [], edges: [] };

  function renderNodes(graph) {
    lastGraph = graph;
    const body = document.getElementById("nodes-body");
    const rows = [];
    for (const node of graph.nodes) {
      const c = counts(node);
      const isBatch = Boolean(node.batchInfo);
      const open = panels.has(node.nodeName);
      rows.push(el("tr", { id: `node-${node.nodeName}`, class: open ? "open" : "" }, [
        el("td", { class: "strong", text: node.nodeName }),
        el("td", {}, [node.algorithmName || "", node.algorithmVersion ? el("span", { class: "muted small", text: ` ${node.algorithmVersion}` }) : null]),
        el("td", {}, el("span", { class: `badge node-badge node-${node.status}`, text: node.status })),
        el("td", { class: "mono", text: `${c.succeed} / ${c.failed} / ${c.total}` }),
        el("td", { class: "error-cell", title: node.error || "", text: clip(node.error, 160) }),
        el("td", {}, isBatch
          ? el("button", { type: "button", class: "link-button", onclick: () => togglePanel(node.nodeName), text: open ? "hide items ▾" : "items ▸" })
          : el("span", { class: "muted small mono", text: node.taskId || "" })),
      ]));
      if (isBatch && open) rows.push(el("tr", { class: "items-row" }, el("td", { colspan: 6 }, panel(node))));
    }
    if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: 6, text: "No nodes." })));
    body.replaceChildren(...rows);
  }

  function panel(node) {
    const name = node.nodeName;
    const state = panels.get(name);
    const total = node.batchInfo.total;
    state.total = total;
    const last = Math.min(total, state.from + PAGE);
    const sortSelect = el("select", { "aria-label": "sort items by" },
      SORTS.map((s) => el("option", { value: s, selected: s === state.sort, text: s })));
    sortSelect.addEventListener("change", () => { state.sort = sortSelect.value; state.from = 0; loadItems(name); });
    const orderSelect = el("select", { "aria-label": "order" },
      ["asc", "desc"].map((o) => el("option", { value: o, selected: o === state.order, text: o })));
    orderSelect.addEventListener("change", () => { state.order = orderSelect.value; state.from = 0; loadItems(name); });
    const prev = el("button", { type: "button", disabled: state.from <= 0, text: "◀ prev", onclick: () => { state.from = Math.max(0, state.from - PAGE); loadItems(name); } });
    const next = el("button", { type: "button", disabled: last >= total, text: "next ▶", onclick: () => { state.from += PAGE; loadItems(name); } });
    const controls = el("div", { class: "items-controls" }, [
      el("span", { text: total ? `items ${state.from + 1}–${last} of ${total}` : "no items" }),
      prev, next,
      el("label", {}, ["sort ", sortSelect]),
      el("label", {}, ["order ", orderSelect]),
      state.error ? el("span", { class: "error", text: state.error }) : null,
    ]);
    const items = state.items || [];
    const table = el("table", { class: "grid items" }, [
      el("thead", {}, el("tr", {}, ["#", "taskId", "status", "started", "took", "attempt", "error"].map((h) => el("th", { text: h })))),
      el("tbody", {}, items.length ? items.map(itemRow) : el("tr", { class: "empty" }, el("td", { colspan: 7, text: state.items ? "No items in this range." : "Loading…" }))),
    ]);
    return el("div", { class: "items-panel" }, [controls, table]);
  }

  function itemRow(item) {
    const took = item.startTime && item.endTime ? formatDuration(item.endTime - item.startTime) : "";
    return el("tr", {}, [
      el("td", { class: "mono", text: item.batchIndex }),
      el("td", { class: "mono", text: item.taskId }),
      el("td", {}, el("span", { class: `badge node-badge node-${item.status}`, text: item.status })),
      el("td", { text: formatTime(item.startTime) }),
      el("td", { text: took }),
      el("td", { text: item.attempt }),
      el("td", { class: "error-cell", title: item.error || "", text: clip(item.error, 200) }),
    ]);
  }

  async function loadItems(name) {
    const state = panels.get(name);
    if (!state) return;
    const params = new URLSearchParams({ node: name, sort: state.sort, order: state.order, from: state.from, to: state.from + PAGE });
    try {
      const graph = await getJSON(`${config.api}graph/parsed/${JOB}?${params}`);
      const node = graph.nodes[0];
      state.items = (node && node.batch) || [];
      state.error = "";
    } catch (error) {
      state.error = String(error.message || error);
    }
    if (panels.get(name) === state) renderNodes(lastGraph);
  }

  // --- refresh loop ------------------------------------------------------------------------------
  const note = document.getElementById("refresh-note");

  async function refresh() {
    let failed = false;
    try {
      // Status first, then the graph: once the status is final, the graph read after it is too.
      const status = await getJSON(`${config.api}exec/status/${JOB}`);
      jobFinal = FINAL.has(status.status);
      // from=0&to=0: every node with its counts, no batch items (those are paged per node).
      const graph = await getJSON(`${config.api}graph/parsed/${JOB}?from=0&to=0`);
      renderStatus(status);
      renderGraph(graph);
      renderNodes(graph);
      for (const name of panels.keys()) loadItems(name);
      note.textContent = jobFinal ? "The job has ended." : `Updated ${formatTime(Date.now())}; refreshing every 2 seconds.`;
    } catch (error) {
      failed = true;
      note.textContent = `Could not refresh: ${error.message || error}; retrying.`;
    }
    if (!jobFinal || failed) setTimeout(refresh, REFRESH_MS);
  }

  refresh();
})();
