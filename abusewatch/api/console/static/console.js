// abusewatch console: live campaign table (server-sent events), sorting and filtering, revealing
// blurred text, SLA clocks. Loaded from 'self' only; no inline script (Content-Security-Policy).
"use strict";

function formatDuration(seconds) {
  const sign = seconds < 0 ? "-" : "";
  seconds = Math.abs(seconds);
  if (seconds < 90) return sign + Math.round(seconds) + "s";
  if (seconds < 5400) return sign + Math.round(seconds / 60) + "m";
  if (seconds < 172800) return sign + (seconds / 3600).toFixed(1) + "h";
  return sign + (seconds / 86400).toFixed(1) + "d";
}

function share(value) {
  return value === null || value === undefined ? "-" : Math.round(value * 100) + "%";
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;  // never innerHTML: ids and texts come from the stream
  row.appendChild(td);
  return td;
}

const table = { rows: [], sortKey: null, descending: false };

function renderCampaigns() {
  const tbody = document.querySelector("#campaigns tbody");
  if (!tbody) return;
  const target = document.getElementById("filter-target").value.trim().toLowerCase();
  const status = document.getElementById("filter-status").value;
  let rows = table.rows.filter((c) => (!target || c.target_id.toLowerCase().includes(target)) && (!status || c.status === status));
  if (table.sortKey) {
    const key = table.sortKey;
    rows = rows.slice().sort((a, b) => {
      const x = a[key], y = b[key];
      const order = x === y ? 0 : (x === null || x === undefined) ? 1 : (y === null || y === undefined) ? -1 : x < y ? -1 : 1;
      return table.descending ? -order : order;
    });
  }
  tbody.replaceChildren();
  for (const c of rows) {
    const tr = document.createElement("tr");
    tr.dataset.campaign = c.campaign_id;
    const status = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = "status " + c.status;
    badge.textContent = c.status;
    status.appendChild(badge);
    const link = document.createElement("a");
    link.href = "/console/campaigns/" + encodeURIComponent(c.campaign_id);
    link.textContent = c.target_id;
    cell(tr, "").appendChild(link);
    cell(tr, c.severity || "-");
    cell(tr, String(c.abusive_posts));
    cell(tr, String(c.distinct_authors));
    cell(tr, share(c.new_account_share));
    cell(tr, share(c.non_follower_share));
    cell(tr, formatDuration(c.age_s));
    cell(tr, formatDuration(c.idle_s) + " ago");
    tbody.appendChild(tr);
  }
  document.getElementById("no-campaigns").hidden = rows.length > 0;
}

function startLiveCampaigns() {
  if (!document.getElementById("campaigns")) return;
  const status = document.getElementById("live-status");
  const source = new EventSource("/console/events");
  source.addEventListener("open", () => { status.textContent = "live"; });
  source.addEventListener("error", () => { status.textContent = "live updates reconnecting"; });
  source.addEventListener("campaigns", (event) => {
    table.rows = JSON.parse(event.data);
    renderCampaigns();
  });
  document.getElementById("filter-target").addEventListener("input", renderCampaigns);
  document.getElementById("filter-status").addEventListener("change", renderCampaigns);
  for (const th of document.querySelectorAll("#campaigns th[data-key]")) {
    th.addEventListener("click", () => {
      table.descending = table.sortKey === th.dataset.key ? !table.descending : th.hasAttribute("data-numeric");
      table.sortKey = th.dataset.key;
      for (const other of document.querySelectorAll("#campaigns th")) other.classList.remove("sorted-asc", "sorted-desc");
      th.classList.add(table.descending ? "sorted-desc" : "sorted-asc");
      renderCampaigns();
    });
  }
}

function revealOnClick() {
  for (const span of document.querySelectorAll(".blurred")) {
    const reveal = () => span.classList.toggle("revealed");
    span.addEventListener("click", reveal);
    span.addEventListener("keydown", (event) => { if (event.key === "Enter") reveal(); });
  }
}

function tickSlaClocks() {
  const clocks = document.querySelectorAll(".sla[data-due]");
  const tick = () => {
    for (const clock of clocks) {
      if (!clock.dataset.due) continue;
      const left = (Date.parse(clock.dataset.due) - Date.now()) / 1000;
      clock.textContent = left < 0 ? "overdue by " + formatDuration(-left) : formatDuration(left) + " left";
      clock.classList.toggle("overdue", left < 0);
    }
  };
  tick();
  if (clocks.length) setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  startLiveCampaigns();
  revealOnClick();
  tickSlaClocks();
});
