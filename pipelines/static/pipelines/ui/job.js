/* One job: header from exec/status, the pipeline graph (SVG) and node table from
   graph/parsed, batch items paged from graph/parsed?node=..&from=..&to=... Refreshes every
   2 seconds until the job is final. */
(function () {
  "use strict";
  const { el, formatTime, formatDuration, getJSON, readConfig, counts, drawGraph } = window.HK;
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
      drawGraph(document.getElementById("graph"), graph, focusNode);
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
