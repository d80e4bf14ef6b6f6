/* Small helpers shared by the job pages (no framework, no build step). */
(function () {
  "use strict";

  // Build an element; text goes through textContent, never innerHTML (names and errors are user data).
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, String(value));
    }
  }

  function append(node, children) {
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function formatTime(ms) {
    if (!ms) return "";
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function formatDuration(ms) {
    if (ms === null || ms === undefined || ms === "" || isNaN(ms)) return "";
    const total = Math.max(0, Number(ms));
    if (total < 1000) return `${Math.round(total)} ms`;
    const seconds = total / 1000;
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const m = Math.floor(seconds / 60);
    const s = Math.floor(seconds % 60);
    if (m < 60) return `${m}m ${pad(s)}s`;
    return `${Math.floor(m / 60)}h ${pad(m % 60)}m`;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error && body.error.message ? body.error.message : response.statusText;
      throw new Error(`${response.status} ${message}`);
    }
    return body;
  }

  function readConfig(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  // Replace the <time data-ms> texts rendered by the server in UTC with local times.
  function localizeTimes(root) {
    for (const node of (root || document).querySelectorAll("time[data-ms]")) {
      if (node.dataset.ms) node.textContent = formatTime(node.dataset.ms);
    }
  }

  window.HK = { el, svg, formatTime, formatDuration, getJSON, readConfig, localizeTimes };
})();
