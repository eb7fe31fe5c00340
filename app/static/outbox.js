// The push-back outbox (回传发件箱, supervisors and admins): every state change sent to a
// channel's webhook, from /api/intake/outbox, refreshed every 10 s; 重试 sends a failed or
// retrying delivery on the outbox's next tick (POST /api/intake/outbox/{id}/retry).
// Needs common.js and casework.js.
"use strict";

const TEXT = {
  zh: {
    ...CASE_TEXT.zh, title: "回传发件箱", deliveries: "状态回传", show: "显示", all: "全部", failed: "失败",
    retrying: "重试中", pending: "待发送", sent: "已发送", skipped: "无需回传", delivery: "编号", channel: "渠道",
    stateHead: "回传状态", statusHead: "发送情况", attempts: "尝试次数", next: "下次尝试", lastError: "最近错误",
    sentAt: "发送时间", actions: "操作", empty: "没有回传记录", retry: "重试", retried: "已安排重试：",
  },
  en: {
    ...CASE_TEXT.en, title: "Push-back outbox", deliveries: "Status push-back", show: "Show", all: "All",
    failed: "Failed", retrying: "Retrying", pending: "Pending", sent: "Sent", skipped: "No webhook",
    delivery: "Delivery", channel: "Channel", stateHead: "State sent", statusHead: "Delivery", attempts: "Attempts",
    next: "Next try", lastError: "Last error", sentAt: "Sent at", actions: "Actions", empty: "No deliveries",
    retry: "Retry", retried: "Retry scheduled: ",
  },
};
const RETRYABLE = ["failed", "retrying"];
const box = { timer: null, rows: [] };

async function start(user) {
  if (!["supervisor", "admin"].includes(user.role)) { $("error").textContent = t("notAllowed"); return; }
  await refresh();
  clearInterval(box.timer);
  box.timer = setInterval(refresh, 10000);
}

function row(r) {
  const tr = document.createElement("tr");
  tr.dataset.delivery = r.id;
  tr.dataset.status = r.status;
  const actions = el("td");
  if (RETRYABLE.includes(r.status)) {
    const b = el("button", t("retry"));
    b.type = "button"; b.dataset.action = "retry";
    b.addEventListener("click", () => retry(r.id));
    actions.append(b);
  }
  const status = el("td");
  status.append(el("span", t(r.status), `badge ${r.status === "failed" ? "overdue" : ""}`));
  tr.append(el("td", String(r.id)), el("td", String(r.ticket_id)), el("td", r.channel),
    el("td", sub("states", r.state)), status, el("td", String(r.attempts)),
    el("td", RETRYABLE.includes(r.status) ? when(r.next_at) : "—"), el("td", r.last_error ?? ""),
    el("td", when(r.sent_at)), actions);
  return tr;
}

function render() {
  $("outbox").tBodies[0].replaceChildren(...box.rows.map(row));
  $("outbox-empty").hidden = box.rows.length > 0;
}

async function refresh() {
  try {
    const status = $("filter").value;
    box.rows = await api(`/api/intake/outbox?limit=200${status ? `&status=${status}` : ""}`);
    $("error").textContent = "";
    render();
    $("updated").textContent = `${t("updated")} ${new Date().toLocaleTimeString(locale())}`;
  } catch (err) { if (err.status !== 401) $("error").textContent = err.message; }
}

async function retry(id) {
  try {
    await api(`/api/intake/outbox/${id}/retry`, "POST");
    $("status").textContent = t("retried") + id;
    await refresh();
  } catch (err) { $("error").textContent = err.message; }
}

$("refresh").addEventListener("click", refresh);
$("filter").addEventListener("change", refresh);

setup({ text: TEXT, view: "outbox-view", start, onLanguage: () => { if (box.rows.length) render(); },
  onSignedOut: () => clearInterval(box.timer) });
