/* The admin's job view: status, progress and the graph (graph.js, as on /jobs/<id>/),
   refreshed from exec/status and graph/parsed every 2 seconds until the job is final. */
(function () {
  "use strict";
  const { getJSON, readConfig, drawGraph, formatTime } = window.HK;
  const config = readConfig("job-config");
  const FINAL = new Set(config.finalStatuses);
  const JOB = encodeURIComponent(config.jobId);
  const note = document.getElementById("refresh-note");

  function renderStatus(status) {
    const badge = document.getElementById("job-status");
    badge.textContent = status.status;
    badge.className = `badge status-${status.status}`;
    const bar = document.getElementById("job-progress-bar");
    const progress = (status.data && status.data.progress) || 0;
    bar.style.width = `${progress}%`;
    bar.className = `bar-fill status-${status.status}`;
    const details = (status.data && status.data.details) || "";
    const error = status.error ? ` ${status.nodeName ? `${status.nodeName}: ` : ""}${status.error}` : "";
    document.getElementById("job-details").textContent = `${details || `${progress}%`}${error}`;
  }

  async function refresh() {
    let final = false;
    try {
      const status = await getJSON(`${config.api}exec/status/${JOB}`);
      final = FINAL.has(status.status);
      const graph = await getJSON(`${config.api}graph/parsed/${JOB}?from=0&to=0`);
      renderStatus(status);
      drawGraph(document.getElementById("graph"), graph);
      note.textContent = final ? "The job has ended." : `Updated ${formatTime(Date.now())}; refreshing every 2 seconds.`;
    } catch (error) {
      note.textContent = `Could not refresh: ${error.message || error}; retrying.`;
    }
    if (!final) setTimeout(refresh, 2000);
  }

  refresh();
})();
