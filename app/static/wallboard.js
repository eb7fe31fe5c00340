// The supervisor's wallboard: reads /api/wallboard every 2 s with the desk's session token
// (signed in on /desk), and asks for force-pause/logout and listen/whisper/barge.
"use strict";

const TEXT = {
  zh: { title: "12345 热线班长监控", queues: "队列", queue: "队列", waiting: "排队", longest: "最长等待",
    offered: "今日呼入", answered: "接通", abandoned: "放弃", sl: "15秒服务水平", agents: "座席",
    myPhone: "我的分机", reason: "示忙原因", agent: "座席", state: "状态", inState: "持续", actions: "操作",
    pause: "强制示忙", logout: "强制签出", listen: "监听", whisper: "耳语", barge: "强插", updated: "更新于",
    noAsterisk: "Asterisk 未连接", alerts: "紧急词提醒", alertAt: "时间", ticket: "工单", category: "类别",
    phrase: "听到", centre: "建议转接", casework: "督办", overdue: "已超期", warning: "临期预警",
    signOverdue: "签收超时", forcedToday: "今日指定派发", disputes: "待审异议", extensions: "待批延期",
    media: "媒体通道", mediaWarning: "即将用尽", mediaOut: "已用尽，新呼叫将被拒绝（488）",
    states: { logged_out: "未签入", ready: "空闲", paused: "示忙", on_call: "通话中", wrapup: "话后处理" } },
  en: { title: "12345 Hotline Wallboard", queues: "Queues", queue: "Queue", waiting: "Waiting",
    longest: "Longest wait", offered: "Offered today", answered: "Answered", abandoned: "Abandoned",
    sl: "Service level (15 s)", agents: "Agents", myPhone: "My extension", reason: "Pause reason",
    agent: "Agent", state: "State", inState: "Time in state", actions: "Actions", pause: "Force pause",
    logout: "Force logout", listen: "Listen", whisper: "Whisper", barge: "Barge", updated: "Updated",
    noAsterisk: "Asterisk not connected", alerts: "Emergency phrase alerts", alertAt: "Time",
    ticket: "Ticket", category: "Category", phrase: "Heard", centre: "Suggested transfer",
    casework: "Supervision", overdue: "Overdue", warning: "Near deadline", signOverdue: "Sign-for late",
    forcedToday: "Force-assigned today", disputes: "Disputes to review", extensions: "Extensions to decide",
    media: "Media channels", mediaWarning: "nearly used up", mediaOut: "used up: new calls are refused (488)",
    states: { logged_out: "Logged out", ready: "Ready", paused: "Paused", on_call: "On call", wrapup: "Wrap-up" } },
};
const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("desk.lang") || "zh";
const token = sessionStorage.getItem("desk.token");
const t = (k) => TEXT[lang][k] ?? k;
if (!token) location.replace("/desk?next=/wallboard");

async function api(path, method = "GET", body) {
  const resp = await fetch(path, { method, headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401) location.replace("/desk?next=/wallboard");
  const data = await resp.json();
  if (!resp.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

const fmt = (s) => s == null ? "—" : `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
const cells = (tr, values) => { for (const v of values) tr.appendChild(document.createElement("td")).textContent = v; return tr; };

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = t(label); b.dataset.action = label;
  b.addEventListener("click", () => onClick().catch((e) => { $("error").textContent = e.message; }));
  return b;
}

// The node's RTP range (cti/media_ports.py): calls up against what it holds; when it is full
// Asterisk refuses new calls, so the hall must see it before the callers do.
function renderMedia(m) {
  const el = $("media");
  el.className = `media ${m?.level ?? ""}`; el.dataset.level = m?.level ?? "";
  if (!m) { el.textContent = ""; return; }
  const note = { warning: t("mediaWarning"), out: t("mediaOut") }[m.level];
  el.textContent = `${t("media")} ${m.in_use}/${m.capacity} (RTP ${m.rtp_start}-${m.rtp_end})${note ? ` · ${note}` : ""}`;
}

function render(board) {
  $("error").textContent = board.asterisk ? "" : t("noAsterisk");
  renderMedia(board.media_ports);
  $("updated").textContent = `${t("updated")} ${new Date(board.at).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en")}`;
  $("queues").tBodies[0].replaceChildren(...board.queues.map((q) => {
    const tr = cells(document.createElement("tr"), [q.queue, q.waiting ?? "—", fmt(q.longest_wait), q.offered,
      q.answered, q.abandoned, q.service_level == null ? "—" : `${(100 * q.service_level).toFixed(1)}%`]);
    tr.dataset.queue = q.queue;
    return tr;
  }));
  $("agents").tBodies[0].replaceChildren(...board.agents.map((a) => {
    const tr = cells(document.createElement("tr"), [a.agent_id,
      t("states")[a.state] + (a.reason ? ` (${a.reason})` : ""), fmt(a.seconds_in_state)]);
    tr.dataset.agent = a.agent_id; tr.dataset.state = a.state;
    const td = tr.appendChild(document.createElement("td"));
    const post = (action, body) => api(`/api/agents/${a.agent_id}/${action}`, "POST", body);
    if (a.state !== "logged_out") {
      td.append(button("pause", () => post("pause", { reason: $("reason").value })), button("logout", () => post("logout")));
    }
    if (a.state === "on_call") {
      for (const mode of ["listen", "whisper", "barge"]) td.append(button(mode, () => post("spy", { mode, phone: $("phone").value })));
    }
    return tr;
  }));
}

// Keyword alerts heard live in the last hour (app/live.py), newest first.
function renderAlerts(alerts) {
  $("alerts").tBodies[0].replaceChildren(...alerts.map((a) => {
    const tr = cells(document.createElement("tr"), [
      new Date(a.raised_at).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en"), a.agent_id ?? "—",
      a.ticket_id ?? "—", lang === "zh" ? a.category_zh : a.category, a.phrase, a.centre ?? "—"]);
    tr.dataset.alert = a.id; tr.className = "alert-row";
    return tr;
  }));
}

// 督办 counts from the case loop (the sweep flags overdue and near-deadline tickets); counted in
// the database, so read every 10 s rather than with the 2 s queue figures.
async function refreshCasework() {
  try {
    const summary = await api("/api/supervision/summary");
    for (const cell of document.querySelectorAll("#casework td[data-k]")) {
      cell.textContent = summary[cell.dataset.k];
      cell.classList.toggle("late", ["overdue", "sign_overdue"].includes(cell.dataset.k) && summary[cell.dataset.k] > 0);
    }
  } catch (e) { $("error").textContent = e.message; }
}

async function refresh() {
  try {
    const since = new Date(Date.now() - 3600_000).toISOString();
    const [board, alerts] = await Promise.all([api("/api/wallboard"),
      api(`/api/alerts?since=${encodeURIComponent(since)}&limit=20`)]);
    render(board);
    renderAlerts(alerts);
  } catch (e) { $("error").textContent = e.message; }
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  refresh();
}
$("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("desk.lang", lang); applyLanguage(); });
$("phone").value = localStorage.getItem("wallboard.phone") || "";
$("phone").addEventListener("change", () => localStorage.setItem("wallboard.phone", $("phone").value));
if (token) {
  api("/api/pause-reasons").then((rs) => $("reason").replaceChildren(...rs.map((r) => new Option(r, r))));
  applyLanguage();
  refreshCasework();
  setInterval(refresh, 2000);
  setInterval(refreshCasework, 10000);
}
