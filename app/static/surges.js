// The supervisor's surge alerts (突增预警): the last 7 days' alerts from /api/surges, refreshed
// every 30 s (needs common.js, casework.js); a row opens the tickets behind it; 已知悉 acknowledges; 立即检测 runs a pass now.
"use strict";

const TEXT = {
  zh: {
    ...CASE_TEXT.zh, title: "突增预警", alerts: "近 7 日突增预警", scan: "立即检测", openOnly: "只看未确认",
    method: "同一类别、同一地点（或区县）在 1 小时或当日内的件数，与该处近 28 天的历史比较（泊松上尾检验）。",
    window: "时段", category: "类别", area: "地点/区县", count: "件数", expected: "平时约", state: "状态",
    actions: "操作", empty: "暂无突增预警", ticketNo: "工单号", created: "受理时间", address: "地址",
    summary: "摘要", ticketState: "工单状态", ack: "已知悉", acked: "已确认", open: "未确认",
    hour: "1 小时", day: "当日", place: "地点", district: "区县", scanned: "检测完成，新增或更新预警：",
  },
  en: {
    ...CASE_TEXT.en, title: "Surge alerts", alerts: "Surge alerts, last 7 days", scan: "Scan now", openOnly: "Open only",
    method: "Tickets of one category at one place (or district) in an hour or a day, against that place's last 28 days (Poisson upper tail).",
    window: "Window", category: "Category", area: "Place / district", count: "Tickets", expected: "Usually",
    state: "Status", actions: "Actions", empty: "No surge alerts", ticketNo: "Ticket", created: "Created",
    address: "Address", summary: "Summary", ticketState: "Ticket state", ack: "Acknowledge", acked: "Acknowledged",
    open: "Open", hour: "1 hour", day: "Day", place: "Place", district: "District",
    scanned: "Scan done, alerts new or raised: ",
  },
};

const board = { timer: null, alerts: [], shown: null };

async function start(user) {
  if (!["supervisor", "admin"].includes(user.role)) { $("error").textContent = t("notAllowed"); return; }
  await refresh();
  clearInterval(board.timer);
  board.timer = setInterval(refresh, 30000);
}

function windowText(a) {
  const from = new Date(a.window_start);
  const day = from.toLocaleDateString(locale());
  if (a.window === "day") return `${day} ${t("day")}`;
  const hm = (d) => d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  return `${day} ${hm(from)}–${hm(new Date(a.window_end))}`;
}

function row(a) {
  const tr = document.createElement("tr");
  tr.dataset.alert = a.id;
  tr.tabIndex = 0;
  if (board.shown === a.id) tr.className = "selected";
  const area = el("td");
  area.append(el("span", t(a.area_kind), "badge"), el("span", a.area));
  const state = el("td", a.acknowledged_at ? `${t("acked")} · ${a.acknowledged_by}` : t("open"));
  const actions = el("td");
  if (!a.acknowledged_at) {
    const ack = el("button", t("ack"));
    ack.type = "button"; ack.dataset.action = "ack";
    ack.addEventListener("click", (ev) => { ev.stopPropagation(); acknowledge(a.id); });
    actions.append(ack);
  }
  tr.append(el("td", windowText(a)), el("td", a.category), area, el("td", String(a.count)),
    el("td", a.expected < 1 ? a.expected.toFixed(2) : a.expected.toFixed(1)), state, actions);
  tr.addEventListener("click", () => show(a.id));
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") show(a.id); });
  return tr;
}

function render() {
  $("surges").tBodies[0].replaceChildren(...board.alerts.map(row));
  $("surges-empty").hidden = board.alerts.length > 0;
}

async function refresh() {
  try {
    const open = $("open-only").checked ? "?open=true" : "";
    board.alerts = await api(`/api/surges${open}`);
    $("error").textContent = "";
    render();
    $("updated").textContent = `${t("updated")} ${new Date().toLocaleTimeString(locale())}`;
  } catch (err) { if (err.status !== 401) $("error").textContent = err.message; }
}

async function show(id) {
  try {
    const a = await api(`/api/surges/${id}`);
    board.shown = id;
    render();
    $("detail-title").textContent = a.message;
    $("detail-tickets").tBodies[0].replaceChildren(...a.tickets.map((tk) => {
      const tr = document.createElement("tr");
      tr.dataset.ticket = tk.id;
      const no = el("td", String(tk.id));
      no.append(" ", ...badges(tk));
      tr.append(no, el("td", when(tk.created_at)), el("td", tk.address ?? ""), el("td", tk.summary ?? ""),
        el("td", sub("states", tk.state)));
      return tr;
    }));
    $("detail").hidden = false;
  } catch (err) { $("error").textContent = err.message; }
}

async function acknowledge(id) {
  try { await api(`/api/surges/${id}/ack`, "POST"); await refresh(); } catch (err) { $("error").textContent = err.message; }
}

$("refresh").addEventListener("click", refresh);
$("open-only").addEventListener("change", refresh);
$("scan").addEventListener("click", async () => {
  try {
    const found = await api("/api/surges/scan", "POST");
    $("status").textContent = t("scanned") + found.length;
    await refresh();
  } catch (err) { $("error").textContent = err.message; }
});

setup({ text: TEXT, view: "surges-view", start, onLanguage: () => { if (board.alerts.length) render(); },
  onSignedOut: () => clearInterval(board.timer) });
