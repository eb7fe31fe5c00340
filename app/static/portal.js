// The department portal (承办单位): the department's tickets by tab (抢单池, 待签收, 办理中,
// 已超期, 已办结) with the time left, a ticket's detail and history, and the handler's moves:
// 抢单, 签收, 答复 (text + files), 申请异议, 申请延期. Data through the API only.
"use strict";

const TEXT = {
  zh: {
    ...CASE_TEXT.zh, title: "12345 热线承办单位工作台", pool: "抢单池", to_sign: "待签收", in_progress: "办理中",
    overdue: "已超期", done: "已办结", empty: "暂无工单", claim: "抢单", accept: "签收", reply: "答复",
    replyText: "答复内容", files: "附件（JPG/PNG 图片、PDF、Word、Excel，每个不超过 10 MB）", sendReply: "提交答复",
    dispute: "申请异议", disputeReason: "异议理由（非本单位职责等）", sendDispute: "提交异议",
    extension: "申请延期", extDays: "延期天数（工作日）", extReason: "延期理由", sendExtension: "提交延期申请",
    claimed: "抢单成功，已签收", accepted: "已签收", replied: "已答复", disputeFiled: "异议已提交，等待审核",
    extensionAsked: "延期申请已提交，等待审批", uploading: "正在上传附件…", tooBig: "附件超过 10 MB",
    alreadyClaimed: "已被其他单位抢单", grabEnded: "抢单时间已结束", windowClosed: "已超过异议申请期限",
    overdueNoExtension: "已超期，不能申请延期", badFile: "附件类型不支持（仅限 JPG、PNG、PDF、DOCX、XLSX）",
    notInPool: "工单已不在抢单池", notOffered: "此工单未向本单位发布", notYours: "此工单不由本单位办理",
    acceptFirst: "请先签收，再答复", cannotAccept: "工单当前状态不能签收", cannotDispute: "工单当前状态不能申请异议",
    extPending: "已有延期申请在审批中", extTooLong: "延期累计天数超过上限", emptyFile: "附件是空文件",
    disputedNote: "异议审核中：审核结果出来前不能答复，答复时限照常计算。",
  },
  en: {
    ...CASE_TEXT.en, title: "12345 Hotline Department Portal", pool: "Grab pool", to_sign: "To accept",
    in_progress: "In progress", overdue: "Overdue", done: "Done", empty: "No tickets", claim: "Claim",
    accept: "Accept", reply: "Reply", replyText: "Reply", files: "Attachments (JPG/PNG, PDF, Word, Excel; 10 MB each)",
    sendReply: "Send reply", dispute: "Dispute", disputeReason: "Reason (not our remit …)",
    sendDispute: "File dispute", extension: "Extension", extDays: "Extra working days", extReason: "Reason",
    sendExtension: "Ask for extension", claimed: "Claimed and accepted", accepted: "Accepted", replied: "Replied",
    disputeFiled: "Dispute filed, waiting for review", extensionAsked: "Extension asked, waiting for a decision",
    uploading: "Uploading attachments…", tooBig: "Attachment over 10 MB",
    alreadyClaimed: "Another department claimed it first", grabEnded: "The grab window has ended",
    windowClosed: "The dispute window has passed", overdueNoExtension: "Overdue: no extension possible",
    badFile: "This file type is not accepted (JPG, PNG, PDF, DOCX, XLSX only)",
    notInPool: "The ticket is no longer in the grab pool", notOffered: "This ticket was not offered to your department",
    notYours: "Your department does not handle this ticket", acceptFirst: "Accept the ticket before replying",
    cannotAccept: "The ticket cannot be accepted in its state", cannotDispute: "The ticket cannot be disputed in its state",
    extPending: "An extension request is already waiting", extTooLong: "Too many extra days in all",
    emptyFile: "The attachment is empty",
    disputedNote: "Dispute under review: no reply until it is decided; the reply clock keeps running.",
  },
};

// The API's refusals (403/404/409/413/415/422 with a reason in English), in the handler's words.
const REFUSALS = [
  ["already claimed", "alreadyClaimed"], ["grab window", "grabEnded"], ["not in the grab pool", "notInPool"],
  ["not offered to", "notOffered"], ["not by your department", "notYours"], ["can be replied to", "acceptFirst"],
  ["can be signed for", "cannotAccept"], ["can be disputed", "cannotDispute"], ["dispute window", "windowClosed"],
  ["already overdue", "overdueNoExtension"], ["still pending", "extPending"], ["at most", "extTooLong"],
  ["larger than", "tooBig"], ["not an allowed file", "badFile"], ["file is empty", "emptyFile"],
];
const MAX_FILE = 10 * 1024 * 1024;
const named = (msg, name) => (page.lang === "zh" ? `${msg}：${name}` : `${msg}: ${name}`);
const VIEWS = ["pool", "to_sign", "in_progress", "overdue", "done"];

const portal = { view: "to_sign", rows: [], ticket: null, timer: null, readOnly: true };

async function start(user) {
  if (!["department", "supervisor", "admin"].includes(user.role)) {
    $("error").textContent = t("notAllowed");
    return;
  }
  portal.readOnly = user.role !== "department"; // supervisors watch; handlers act
  $("who").textContent = `${user.username}${user.department ? " · " + user.department : ""}`;
  try { await loadDepartments(); } catch (_) { /* codes shown instead of names */ }
  if (user.department) $("who").textContent = `${user.username} · ${deptName(user.department)}`;
  showView(location.hash.slice(1) || portal.view);
  clearInterval(portal.timer);
  portal.timer = setInterval(refresh, 10000);
}

function showView(view) {
  portal.view = VIEWS.includes(view) ? view : "to_sign";
  for (const b of document.querySelectorAll("#tabs [role=tab]")) {
    const on = b.dataset.view === portal.view;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
  }
  history.replaceState(null, "", `#${portal.view}`);
  refresh();
}

for (const b of document.querySelectorAll("#tabs [role=tab]")) b.addEventListener("click", () => showView(b.dataset.view));
// Arrow keys move between tabs (the WAI-ARIA tabs pattern).
$("tabs").addEventListener("keydown", (ev) => {
  if (!["ArrowLeft", "ArrowRight"].includes(ev.key)) return;
  const i = VIEWS.indexOf(portal.view) + (ev.key === "ArrowRight" ? 1 : -1);
  showView(VIEWS[(i + VIEWS.length) % VIEWS.length]);
  $(`tab-${portal.view}`).focus();
});
$("refresh").addEventListener("click", () => refresh());

async function refresh() {
  if (!page.token) return;
  try {
    portal.rows = await api(`/api/portal/tickets?view=${portal.view}&limit=100`);
    $("error").textContent = "";
    $("updated").textContent = `${t("updated")} ${new Date().toLocaleTimeString(locale())}`;
  } catch (err) {
    $("error").textContent = conflictText(err, REFUSALS);
    return;
  }
  showRows();
  if (portal.ticket) await openTicket(portal.ticket.id, false);
}

function showRows() {
  $("empty").hidden = portal.rows.length > 0;
  $("tickets").tBodies[0].replaceChildren(...portal.rows.map((r) => {
    const tr = el("tr");
    tr.dataset.ticket = r.id; tr.tabIndex = 0;
    if (portal.ticket && portal.ticket.id === r.id) tr.className = "selected";
    const left = timeLeft(r, portal.view);
    const cells = [r.id, r.category || "—", gist(r), r.address || "—", sub("states", r.state)];
    for (const v of cells) tr.append(el("td", String(v)));
    const tl = el("td", left.text, left.near ? "time-left near" : "time-left");
    tl.dataset.near = left.near ? "1" : "0";
    const flags = el("td"); flags.append(...badges(r));
    tr.append(tl, flags);
    tr.addEventListener("click", () => openTicket(r.id));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openTicket(r.id); });
    return tr;
  }));
}

function applyLanguage() {
  if (portal.rows.length) showRows();
  if (portal.ticket) showTicket(portal.ticket);
}

// --- one ticket ------------------------------------------------------------------------------

async function openTicket(id, scroll = true) {
  try {
    showTicket(await api(`/api/tickets/${id}`));
  } catch (err) {
    $("error").textContent = conflictText(err, REFUSALS);
    if (err.status === 404) { portal.ticket = null; $("detail").hidden = true; }
    return;
  }
  for (const tr of $("tickets").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.ticket) === id);
  if (scroll) { $("detail").scrollIntoView({ block: "start" }); $("d-title").focus(); }
}

function showTicket(ticket) {
  const changed = !portal.ticket || portal.ticket.id !== ticket.id;
  portal.ticket = ticket;
  $("detail").hidden = false;
  $("detail").dataset.ticket = ticket.id; $("detail").dataset.state = ticket.state;
  $("d-title").textContent = `${t("ticketNo")} ${ticket.id} · ${sub("states", ticket.state)}`;
  $("d-title").tabIndex = -1;
  const left = timeLeft(ticket, ticket.state === "dispatched" && ticket.dispatch_mode === "grab" && !ticket.claimed_at ? "pool"
    : ticket.state === "dispatched" ? "to_sign" : ["closed", "replied", "callback"].includes(ticket.state) ? "done" : "in_progress");
  facts($("d-facts"), [
    ["category", ticket.category], ["address", ticket.address], ["urgency", t(ticket.urgency === "urgent" ? "urgent" : "normal")],
    ["caller", ticket.caller], ["created", when(ticket.created_at)], ["lead", deptName(ticket.department)],
    ["assisting", (ticket.assisting || []).map(deptName).join("、") || t("none")],
    ["dispatchMode", ticket.dispatch_mode ? t(ticket.dispatch_mode) : "—"],
    // 签收时限 matters until it is signed for; then the reply deadline does.
    ...(["dispatched", "reopened"].includes(ticket.state) ? [["signDue", when(ticket.sign_due_at)]] : []),
    ["replyDue", when(ticket.reply_due_at)], ["timeLeft", left.text],
    ["flags", badges(ticket).map((b) => b.textContent).join(" ") || t("none")],
  ]);
  $("d-request").textContent = ticket.description || ticket.summary || "—";
  showCalls($("d-calls"), ticket);
  showHistory($("d-history"), ticket);
  actions(ticket);
  if (changed) $("action-status").textContent = "";
}

// Only the moves the ticket's state allows are offered; the server decides in the end.
function actions(ticket) {
  const s = portal.readOnly ? "read-only" : ticket.state;
  const inPool = s === "dispatched" && ticket.dispatch_mode === "grab" && !ticket.claimed_at;
  $("claim").hidden = !inPool;
  $("accept").hidden = !((s === "dispatched" && !inPool) || s === "reopened");
  $("reply-form").hidden = s !== "accepted";
  $("dispute-form").hidden = inPool || !["dispatched", "accepted"].includes(s);
  $("d-note").hidden = s !== "disputed";
  $("extension-form").hidden = s !== "accepted" || (ticket.seconds_left != null && ticket.seconds_left < 0);
}

async function act(button, fn, done) {
  let refused = null;
  button.disabled = true;
  $("action-status").textContent = ""; $("action-status").dataset.state = "";
  try {
    await fn();
    $("action-status").textContent = t(done); $("action-status").dataset.state = "ok";
  } catch (err) {
    refused = conflictText(err, REFUSALS);
    $("action-status").textContent = refused; $("action-status").dataset.state = "error";
  } finally {
    button.disabled = false;
    await refresh();
  }
  // The ticket may have left us (claimed by another department): say why at the top.
  if (refused && $("detail").hidden) $("error").textContent = refused;
}

const ticketPath = (what) => `/api/tickets/${portal.ticket.id}/${what}`;
// A claim signs for the ticket: it moves to 办理中, where the handler goes on with it.
$("claim").addEventListener("click", () => act($("claim"), async () => {
  await api(ticketPath("claim"), "POST");
  showView("in_progress");
}, "claimed"));
$("accept").addEventListener("click", () => act($("accept"), () => api(ticketPath("accept"), "POST"), "accepted"));

$("reply-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const files = [...$("reply-files").files];
  const big = files.find((f) => f.size > MAX_FILE);
  if (big) { $("action-status").textContent = named(t("tooBig"), big.name); $("action-status").dataset.state = "error"; return; }
  act($("reply"), async () => {
    // The files first: a reply the citizen is called back about carries its evidence.
    for (const f of files) {
      $("action-status").textContent = `${t("uploading")} ${f.name}`;
      const form = new FormData();
      form.append("file", f, f.name);
      try { await api(ticketPath("attachments"), "POST", form); } catch (err) {
        if (err instanceof ApiError && err.status !== 401) throw new Error(named(conflictText(err, REFUSALS), f.name));
        throw err;
      }
    }
    await api(ticketPath("reply"), "POST", { text: $("reply-text").value.trim() });
    $("reply-text").value = ""; $("reply-files").value = "";
  }, "replied");
});

$("dispute-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act($("dispute"), async () => {
    await api(ticketPath("disputes"), "POST", { reason: $("dispute-reason").value.trim() });
    $("dispute-reason").value = "";
  }, "disputeFiled");
});

$("extension-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act($("extend"), async () => {
    await api(ticketPath("extensions"), "POST", { days: Number($("ext-days").value), reason: $("ext-reason").value.trim() });
    $("ext-reason").value = "";
  }, "extensionAsked");
});

setup({
  text: TEXT, view: "portal-view", start, onLanguage: applyLanguage,
  onSignedOut: () => { clearInterval(portal.timer); portal.ticket = null; portal.rows = []; $("detail").hidden = true; },
});
