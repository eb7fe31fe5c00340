// Shared by the case-loop pages (portal, dispatch): ticket words in both languages, the time
// left on a deadline, badges, department names, and a ticket's detail (request, calls,
// history). Needs common.js.
"use strict";

const CASE_TEXT = {
  zh: {
    ticketNo: "工单号", category: "类别", summary: "诉求摘要", address: "地址", status: "状态",
    timeLeft: "剩余时间", flags: "标记", urgency: "紧急程度", created: "受理时间", lead: "主办单位",
    assisting: "协办单位", signDue: "签收时限", replyDue: "答复时限", grabUntil: "抢单截止",
    caller: "来电号码", request: "市民诉求", calls: "来电与转写", history: "办理记录", none: "无",
    forced: "指定派发", supervised: "督办", urgent: "紧急", normal: "一般", overdueBy: "已超期",
    days: "天", hours: "小时", minutes: "分钟", noTranscript: "（无转写）", dispatchMode: "派单方式",
    direct: "直接派单", grab: "抢单", conflict: "操作未完成", notFound: "工单不存在或无权查看",
    confidential: "保密",
    states: { draft: "受理中", registered: "已受理", answered: "直接答复", dispatched: "已派单",
      accepted: "办理中", disputed: "异议中", replied: "已答复", callback: "回访中", reopened: "重办",
      closed: "已办结", merged: "已并单" },
    moves: { transition: "状态变更", dispute: "申请异议", extension: "申请延期", supervision: "督办",
      reply: "答复", attachment: "附件" },
    review: { pending: "待审核", approved: "已同意待复核", confirmed: "已复核", rejected: "已驳回",
      refused: "已拒绝" },
    supervisionKinds: { reminder: "催办提醒", overdue: "超期督办", sign_overdue: "签收超时", forced: "指定派发",
      manual: "人工督办" },
    signLate: "签收超时", mergedInto: "已并入工单", hasMerged: "并单：",
    levels: { phone: "电话督办", written: "书面督办", onsite: "现场督办" },
    // Reasons the server writes in English on some moves.
    reasons: { "call entered the hotline": "来电进入热线", "saved at the desk": "座席登记受理",
      "call taken while the app was down (from Asterisk's queue log)": "系统中断期间接听（据队列日志补录）" },
  },
  en: {
    ticketNo: "Ticket", category: "Category", summary: "Summary", address: "Address", status: "Status",
    timeLeft: "Time left", flags: "Flags", urgency: "Urgency", created: "Created", lead: "Lead department",
    assisting: "Assisting", signDue: "Accept by", replyDue: "Reply by", grabUntil: "Claim by",
    caller: "Caller", request: "Citizen's request", calls: "Calls and transcripts", history: "History",
    none: "none", forced: "Assigned", supervised: "Supervised", urgent: "Urgent", normal: "Normal",
    overdueBy: "Overdue", days: "d", hours: "h", minutes: "min", noTranscript: "(no transcript)",
    dispatchMode: "Dispatch", direct: "Direct", grab: "Grab pool", conflict: "Not done",
    notFound: "No such ticket, or not yours to see", confidential: "Confidential",
    states: { draft: "Draft", registered: "Registered", answered: "Answered", dispatched: "Dispatched",
      accepted: "In progress", disputed: "Disputed", replied: "Replied", callback: "Callback",
      reopened: "Reopened", closed: "Closed", merged: "Merged" },
    moves: { transition: "State", dispute: "Dispute", extension: "Extension", supervision: "Supervision",
      reply: "Reply", attachment: "Attachment" },
    review: { pending: "Pending", approved: "Approved, to confirm", confirmed: "Confirmed", rejected: "Rejected",
      refused: "Refused" },
    supervisionKinds: { reminder: "Reminder", overdue: "Overdue", sign_overdue: "Not accepted in time",
      forced: "Assigned", manual: "Manual" },
    signLate: "Not accepted in time", mergedInto: "Merged into ticket", hasMerged: "Merged here:",
    levels: { phone: "Phone", written: "Written", onsite: "On site" },
    reasons: {},
  },
};

const sub = (group, key) => (key == null ? "—" : (t(group) || {})[key] ?? key);

// Department codes → names (GET /api/departments), for every list and select.
const departments = { byCode: new Map(), list: [] };
async function loadDepartments() {
  departments.list = await api("/api/departments");
  departments.byCode = new Map(departments.list.map((d) => [d.code, d]));
}
const deptName = (code) => (code ? departments.byCode.get(code)?.name ?? code : "—");

// "2天3小时" / "45分钟"; past the deadline "已超期 3小时".
function duration(seconds) {
  const s = Math.abs(seconds);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const sep = page.lang === "zh" ? "" : " ";
  const parts = d ? [`${d}${sep}${t("days")}`, `${h}${sep}${t("hours")}`]
    : h ? [`${h}${sep}${t("hours")}`, `${m}${sep}${t("minutes")}`] : [`${m}${sep}${t("minutes")}`];
  return parts.join(sep);
}

// The deadline a list row counts down to: claiming in the pool, accepting, else replying.
function rowDeadline(row, view) {
  if (view === "pool") return row.grab_until;
  // 待签收: the sign-for deadline while dispatched; a reopened ticket counts to its reply.
  if (view === "to_sign") return row.state === "dispatched" ? row.sign_due_at : row.reply_due_at;
  if (view === "done") return null;
  return row.reply_due_at;
}

// The time left, and whether it is short: red when past, when the server's clock says
// warning/overdue, or when under 20 % of the window (from the ticket's start) remains.
function timeLeft(row, view, now = Date.now()) {
  const due = rowDeadline(row, view);
  if (!due) return { text: "—", late: false, near: false };
  const left = (new Date(due) - now) / 1000;
  const span = (new Date(due) - new Date(row.published_at || row.created_at)) / 1000;
  const late = left < 0;
  const flagged = ["warning", "overdue", "breached"].includes(row.sla_status) || !!row.sign_overdue_at;
  const near = late || flagged || (span > 0 && left < 0.2 * span);
  return { text: late ? `${t("overdueBy")} ${duration(left)}` : duration(left), late, near, seconds: left };
}

// A row's request in a list: the summary, else the start of what the citizen said.
function gist(row, max = 40) {
  const text = row.summary || row.description || "—";
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function badges(row) {
  const out = [];
  if (row.urgency === "urgent") out.push(el("span", t("urgent"), "badge urgent"));
  if (row.forced) out.push(el("span", t("forced"), "badge forced"));
  if (row.sign_overdue_at && row.state === "dispatched") out.push(el("span", t("signLate"), "badge overdue"));
  if (row.supervised) out.push(el("span", t("supervised"), "badge supervised"));
  // 保密件: the lists never carry the citizen's number; the badge says why the detail masks it.
  if (row.confidential) out.push(el("span", t("confidential"), "badge confidential"));
  // 并单: merged into a master, or the master of merged tickets.
  if (row.merged_into) out.push(el("span", `${t("mergedInto")} ${row.merged_into}`, "badge merged"));
  if (row.merged_tickets?.length) out.push(el("span", `${t("hasMerged")} ${row.merged_tickets.join("、")}`, "badge merged"));
  return out;
}

// The ticket's facts as a definition list.
function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) dl.append(el("dt", t(k)), el("dd", v == null || v === "" ? "—" : String(v)));
}

// A file the API serves behind the bearer token: fetched, then offered as a download.
function attachmentLink(a) {
  const link = el("a", `${a.filename} (${Math.ceil(a.size / 1024)} KB)`);
  link.href = "#"; link.dataset.attachment = a.id;
  link.addEventListener("click", async (ev) => {
    ev.preventDefault();
    const resp = await fetch(`/api/attachments/${a.id}`, { headers: { Authorization: `Bearer ${page.token}` } });
    if (!resp.ok) return;
    const url = URL.createObjectURL(await resp.blob());
    const save = el("a"); save.href = url; save.download = a.filename; save.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  return link;
}

// Everything that happened to a ticket, oldest first: moves, disputes, extensions,
// supervisions, replies, attachments.
function historyItems(ticket) {
  const items = [];
  const add = (at, kind, text, extra) => items.push({ at, kind, text, extra });
  for (const m of ticket.transitions || []) {
    add(m.at, "transition", `${sub("states", m.from_state)} → ${sub("states", m.to_state)} · ${m.actor}${m.reason ? " · " + sub("reasons", m.reason) : ""}`);
  }
  for (const d of ticket.disputes || []) {
    add(d.filed_at, "dispute", `${deptName(d.department)} · ${d.reason} · ${sub("review", d.status)}${d.note ? " · " + d.note : ""}${d.new_department ? " → " + deptName(d.new_department) : ""}`);
  }
  for (const x of ticket.extensions || []) {
    add(x.requested_at, "extension", `${x.days} ${t("days")} · ${x.reason} · ${sub("review", x.status)}${x.note ? " · " + x.note : ""}`);
  }
  for (const s of ticket.supervisions || []) {
    add(s.at, "supervision", `${sub("supervisionKinds", s.kind)}${s.level ? " · " + sub("levels", s.level) : ""}${s.note ? " · " + s.note : ""} · ${s.by}`);
  }
  for (const r of ticket.replies || []) add(r.at, "reply", `${deptName(r.department)} · ${r.by} · ${r.text}`);
  for (const a of ticket.attachments || []) add(a.at, "attachment", `${a.uploaded_by} · `, attachmentLink(a));
  items.sort((a, b) => new Date(a.at) - new Date(b.at));
  return items;
}

function showHistory(ol, ticket) {
  ol.replaceChildren(...historyItems(ticket).map((i) => {
    const li = el("li");
    li.dataset.kind = i.kind;
    li.append(el("time", when(i.at)), el("strong", sub("moves", i.kind)), el("span", i.text));
    if (i.extra) li.append(i.extra);
    return li;
  }));
}

// Calls of the ticket with their transcripts (post-call), where present.
function showCalls(ul, ticket) {
  const texts = new Map((ticket.transcripts || []).map((tr) => [tr.call_id, tr.text]));
  ul.replaceChildren(...(ticket.calls || []).map((c) => {
    const li = el("li");
    li.append(el("strong", `${when(c.started_at)} · ${c.caller || "—"} → ${c.dialled}`));
    li.append(el("p", texts.get(c.id) || t("noTranscript"), "transcript"));
    return li;
  }));
  if (!ul.children.length) ul.append(el("li", t("none"), "muted"));
}

// Words for the API's refusals, in Chinese first: a 409 names what happened.
function conflictText(err, known) {
  if (!(err instanceof ApiError)) return err.message;
  for (const [needle, key] of known) if (err.message.includes(needle)) return t(key);
  if (err.status === 409) return `${t("conflict")}：${err.message}`;
  if (err.status === 404) return t("notFound");
  if (err.status === 403) return t("notAllowed");
  return err.message;
}
