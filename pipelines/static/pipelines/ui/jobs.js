/* The job list: re-reads list.json (same filters as the form) every 2 seconds. */
(function () {
  "use strict";
  const { el, formatDuration, getJSON, readConfig, localizeTimes } = window.HK;
  const config = readConfig("jobs-config");
  const form = document.getElementById("filters");
  const body = document.getElementById("jobs-body");
  const REFRESH_MS = 2000;
  let timer = null;

  function query() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form).entries()) {
      if (value) params.set(key, value);
    }
    return params.toString();
  }

  function row(job) {
    const progress = Number(job.progress) || 0;
    return el("tr", { "data-job-id": job.jobId }, [
      el("td", { class: "mono" }, el("a", { href: `${config.jobUrl}${encodeURIComponent(job.jobId)}/`, text: job.jobId })),
      el("td", { text: job.pipeline }),
      el("td", {}, el("span", { class: `badge status-${job.status}`, text: job.status })),
      el("td", { class: "progress-col" }, [
        el("div", { class: "bar" }, el("div", { class: `bar-fill status-${job.status}`, style: `width: ${progress}%` })),
        el("span", { class: "pct", text: `${progress}%` }),
      ]),
      el("td", {}, el("time", { "data-ms": job.startTime })),
      el("td", { text: formatDuration(job.durationMs) }),
    ]);
  }

  function render(jobs) {
    const rows = jobs.length
      ? jobs.map(row)
      : [el("tr", { class: "empty" }, el("td", { colspan: 6, text: "No jobs match these filters." }))];
    body.replaceChildren(...rows);
    localizeTimes(body);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const qs = query();
      const data = await getJSON(config.dataUrl + (qs ? `?${qs}` : ""));
      render(data.jobs);
    } catch (error) {
      console.warn("job list refresh failed:", error);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    const qs = query();
    history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
    refresh();
  }

  form.addEventListener("submit", applyFilters);
  form.addEventListener("change", applyFilters);
  for (const cell of body.querySelectorAll("td[data-duration-ms]")) {
    cell.textContent = formatDuration(cell.dataset.durationMs);
  }
  localizeTimes(body);
  timer = setTimeout(refresh, REFRESH_MS);
})();
