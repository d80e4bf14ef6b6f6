/* The pipeline graph drawing (SVG), the one drawing code of the /jobs/ pages and the admin:
   columns by longest path, nodes coloured by status, batch nodes with a mini progress bar. */
(function () {
  "use strict";
  const { svg } = window.HK;

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
    const metrics = edge.value && edge.value.metrics;
    const title = `${edge.from} → ${edge.to}: ${types.join(", ")}${metrics ? ` ${metricsTitle(metrics)}` : ""}`;
    layer.appendChild(svg("path", { d, class: `edge ${edgeLabel(types) ? "edge-typed" : ""}`, "marker-end": "url(#arrow)" }, svg("title", { text: title })));
    const label = metrics ? rateLabel(metrics) : edgeLabel(types);
    if (label) labels.appendChild(svg("text", { x: mid.x, y: mid.y - 6, class: `edge-label${metrics ? " edge-rate" : ""}`, "text-anchor": "middle", text: label }));
  }

  // A stream job's edge (graph/raw's `value.metrics`, refreshed every 2 s): its live rate.
  function rateLabel(m) {
    const rate = Number(m.throughput || 0);
    const queue = Number(m.queueSize || 0);
    return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s${queue ? ` · ${queue} queued` : ""}`;
  }

  function metricsTitle(m) {
    const parts = [`${m.throughput || 0} msg/s processed`, `${m.requestRate || 0} msg/s sent`, `queue ${m.queueSize || 0}`,
      `${m.processingTimeMs || 0} ms per message`, `${m.queueTimeMs || 0} ms queued`, `${m.roundTripMs || 0} ms round trip`,
      `sent ${m.sent || 0}`, `received ${m.received || 0}`, `dropped ${m.dropped || 0}`];
    return `(${parts.join(", ")})`;
  }

  function drawNode(layer, node, p, onNodeClick) {
    const status = node.status || "creating";
    const tip = [`${node.nodeName} (${node.algorithmName || "-"})`, status];
    if (node.error) tip.push(node.error);
    const g = svg("g", {
      class: `node node-${status}`,
      transform: `translate(${p.x},${p.y})`,
      tabindex: 0,
      "data-node": node.nodeName,
      onclick: onNodeClick ? () => onNodeClick(node) : null,
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

  // Draw `graph` ({nodes, edges} in graph/parsed's shapes; a preview has no states) into the
  // <svg> `root`. `onNodeClick(node)` is optional.
  function drawGraph(root, graph, onNodeClick) {
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
    for (const node of graph.nodes) drawNode(nodes, node, pos.get(node.nodeName), onNodeClick);
    root.replaceChildren(defs, edges, nodes, labels);
  }


  window.HK.counts = counts;
  window.HK.drawGraph = drawGraph;
})();
