// The hall's big screen: one WebSocket (/ws/bigscreen) sends the whole view on connect and
// again after every change (at most twice a second); nothing here polls. The clock and the
// longest wait tick locally each second. Signed in as a supervisor (common.js).
"use strict";

const TEXT = {
  zh: { title: "12345 政务服务便民热线 · 实时大屏", waiting: "排队等待", longest: "最长", offered: "今日呼入",
    abandoned: "放弃", answered: "今日接通", inTime: "及时接通", answerRate: "人工接通率", serviceLevel: "15秒接通率",
    target95: "目标 95%", target80: "目标 80%", agents: "座席状态", tickets: "今日工单", received: "受理",
    dispatched: "派单", overdue: "办理超期", signOverdue: "签收超时", categories: "热点诉求",
    categoriesEmpty: "今日尚无受理工单", surges: "突增预警", surgesEmpty: "暂无突增预警", alerts: "紧急词提醒",
    alertsEmpty: "今日无紧急词提醒", alertsToday: "今日", uncategorised: "未分类", agent: "座席", ticket: "工单",
    transfer: "建议转", diskLow: (d) => `节点 ${d.node_id} 录音磁盘仅剩 ${d.free_mb} MB，新通话可能无法录音，请立即清理`,
    surgeLine: (s) => `${s.category}：${s.window_minutes} 分钟 ${s.count} 件`,
    states: { ready: "空闲", on_call: "通话中", wrapup: "话后处理", paused: "示忙", logged_out: "未签入" } },
  en: { title: "12345 Hotline · Live", waiting: "Waiting", longest: "Longest", offered: "Offered today",
    abandoned: "Abandoned", answered: "Answered today", inTime: "In time", answerRate: "Answer rate",
    serviceLevel: "Answered in 15 s", target95: "Target 95%", target80: "Target 80%", agents: "Agents",
    tickets: "Tickets today", received: "Received", dispatched: "Dispatched", overdue: "Overdue",
    signOverdue: "Sign-for late", categories: "Top categories", categoriesEmpty: "No tickets yet today",
    surges: "Surge alerts", surgesEmpty: "No surge alerts", alerts: "Emergency phrases",
    alertsEmpty: "No emergency phrases today", alertsToday: "today", uncategorised: "Uncategorised",
    agent: "Agent", ticket: "Ticket", transfer: "transfer to",
    diskLow: (d) => `Node ${d.node_id}: ${d.free_mb} MB left for recordings; new calls may go unrecorded`,
    surgeLine: (s) => `${s.category}: ${s.count} in ${s.window_minutes} min`,
    states: { ready: "Ready", on_call: "On call", wrapup: "Wrap-up", paused: "Paused", logged_out: "Logged out" } },
};
const STATES = ["ready", "on_call", "wrapup", "paused", "logged_out"];
let view = null;
let socket = null;
let retry = 1000;

const pct = (r) => (r == null ? "—" : `${(100 * r).toFixed(1)}%`);
const hhmm = (iso) => new Date(iso).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });

function set(id, value) { $(id).textContent = value; }

function render() {
  if (!view) return;
  const c = view.calls;
  set("waiting", c.waiting); set("offered", c.offered); set("abandoned", c.abandoned);
  set("answered", c.answered); set("in-time", c.answered_in_time);
  set("answer-rate", pct(c.answer_rate)); set("service-level", pct(c.service_level));
  $("answer-rate").classList.toggle("low", c.answer_rate != null && c.answer_rate < 0.95);
  $("service-level").classList.toggle("low", c.service_level != null && c.service_level < 0.8);
  tick();

  const counts = view.agents.counts;
  $("agent-counts").replaceChildren(...STATES.map((s) => {
    const d = el("div", null, "count"); d.dataset.state = s; d.id = `agents-${s}`;
    d.append(el("b", counts[s] ?? 0), el("span", t("states")[s]));
    return d;
  }));
  $("agent-chips").replaceChildren(...view.agents.list.map((a) => {
    const chip = el("span", a.agent_id, "chip");
    chip.dataset.state = a.state; chip.dataset.agent = a.agent_id;
    chip.title = t("states")[a.state] + (a.reason ? ` (${a.reason})` : "");
    return chip;
  }));

  const tk = view.tickets;
  set("received", tk.received); set("dispatched", tk.dispatched);
  set("overdue", tk.overdue); set("sign-overdue", tk.sign_overdue);
  const top = view.categories[0] ? view.categories[0].count : 1;
  $("categories").replaceChildren(...view.categories.map((row) => {
    const li = el("li");
    const bar = el("span", null, "bar"); bar.style.width = `${Math.max(4, (100 * row.count) / top)}%`;
    const track = el("span", null, "track"); track.append(bar);
    li.append(el("span", row.category === "未分类" ? t("uncategorised") : row.category, "name"), track, el("span", row.count, "n"));
    return li;
  }));
  $("categories-empty").hidden = view.categories.length > 0;

  $("disk-low").textContent = (view.disk_low || []).map((d) => t("diskLow")(d)).join("；");
  $("disk-low").hidden = !(view.disk_low || []).length;
  $("surges").replaceChildren(...view.surges.map((s) => {
    const li = el("li", null, "surge");
    li.append(el("time", hhmm(s.at)), document.createTextNode(s.message || t("surgeLine")(s)));
    return li;
  }));
  $("surges-empty").hidden = view.surges.length > 0;
  $("alerts").replaceChildren(...view.alerts.map((a) => {
    const li = el("li");
    const words = [`${a.category_zh}「${a.phrase}」`, a.agent_id ? `${t("agent")} ${a.agent_id}` : "",
      a.ticket_id ? `${t("ticket")} ${a.ticket_id}` : "", a.centre ? `${t("transfer")} ${a.centre}` : ""];
    li.append(el("time", hhmm(a.at)), document.createTextNode(words.filter(Boolean).join(" · ")));
    return li;
  }));
  $("alerts-empty").hidden = view.alerts.length > 0;
  set("alerts-today", view.alerts_today ? `${t("alertsToday")} ${view.alerts_today}` : "");
}

// Once a second: the clock, and the longest wait from when the first caller joined.
function tick() {
  set("clock", new Date().toLocaleString(locale(), { month: "2-digit", day: "2-digit", weekday: "short",
    hour: "2-digit", minute: "2-digit", second: "2-digit" }));
  if (!view) return;
  const since = view.calls.waiting_since;
  set("longest", since ? fmt((Date.now() - new Date(since).getTime()) / 1000) : "—");
}

function connect() {
  if (!page.token) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/bigscreen?token=${encodeURIComponent(page.token)}`);
  socket.onopen = () => { retry = 1000; $("link").dataset.state = "on"; };
  socket.onmessage = (msg) => { view = JSON.parse(msg.data); render(); };
  socket.onclose = (ev) => {
    $("link").dataset.state = "off";
    socket = null;
    if (ev.code === 1008) { signedOut(); return; }
    if (page.token) setTimeout(connect, retry);
    retry = Math.min(retry * 2, 15000);
  };
}

setup({
  text: TEXT,
  view: "screen",
  start: async (user) => {
    if (!["supervisor", "admin"].includes(user.role)) { $("login-view").hidden = false; $("screen").hidden = true; throw new Error(t("notAllowed")); }
    if (!socket) connect();
  },
  onLanguage: render,
  onSignedOut: () => { if (socket) socket.close(); view = null; },
});
setInterval(tick, 1000);
tick();
