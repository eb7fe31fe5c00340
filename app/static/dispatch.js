// The dispatcher's page (派单): registered tickets waiting for dispatch with the catalogue's
// suggestion pre-selected (主办 + 协办) → 直接派单 or 发布抢单; disputes to review (审核:
// 同意/驳回) and to confirm (复核, a second reviewer); supervisors also decide extensions.
"use strict";

const TEXT = {
  zh: {
    ...CASE_TEXT.zh, title: "12345 热线派单工作台", queue: "待派单", queueEmpty: "没有待派工单",
    department: "申请单位", reason: "理由", actions: "操作", daysHead: "天数", note: "备注",
    direct: "直接派单", grab: "发布抢单", confirmPhone: "已电话确认", phoneConfirmed: "已记录电话确认",
    dispatched: "已派单", published: "已发布到抢单池", needLead: "请选择主办单位",
    disputes: "异议审核", disputesEmpty: "没有待审核的异议", approve: "同意", reject: "驳回",
    confirm: "复核通过", newDept: "改派单位（可不选：退回待派单）", reviewed: "已审核", confirmed: "已复核",
    extensions: "延期审批", extensionsEmpty: "没有待审批的延期申请", grant: "批准", refuse: "拒绝",
    decided: "已审批", listUnavailable: "列表暂不可读：", sameReviewer: "复核须由另一位审核人完成",
    notRegistered: "工单已不在待派状态", needConfirmation: "派单前须电话确认",
    alreadyReviewed: "该异议已由他人处理", sameDept: "改派单位不能是申请异议的单位",
    noEligible: "目录中没有可抢单的单位，请选择主办单位", requestedAt: "申请时间", waitingSecond: "待另一位审核人复核",
  },
  en: {
    ...CASE_TEXT.en, title: "12345 Hotline Dispatch", queue: "Waiting for dispatch",
    queueEmpty: "No tickets waiting", department: "Department", reason: "Reason", actions: "Actions",
    daysHead: "Days", note: "Note", direct: "Dispatch", grab: "Publish to pool", confirmPhone: "Phone confirmed",
    phoneConfirmed: "Phone confirmation recorded", dispatched: "Dispatched", published: "Published to the grab pool",
    needLead: "Choose the lead department", disputes: "Disputes", disputesEmpty: "No disputes to review",
    approve: "Approve", reject: "Reject", confirm: "Confirm", newDept: "Send to (none: back to the queue)",
    reviewed: "Reviewed", confirmed: "Confirmed", extensions: "Extensions", extensionsEmpty: "No extension requests",
    grant: "Grant", refuse: "Refuse", decided: "Decided", listUnavailable: "List unavailable: ",
    sameReviewer: "A different reviewer must confirm", notRegistered: "The ticket is no longer waiting",
    needConfirmation: "Confirm by phone before dispatching",
    alreadyReviewed: "Someone else already handled this dispute", sameDept: "Send it to another department than the disputing one",
    noEligible: "No department in the catalogue may claim it: choose the lead", requestedAt: "Asked at",
    waitingSecond: "Waiting for a second reviewer",
  },
};

// The API's refusals (409/422 with a reason in English), in the dispatcher's words.
const REFUSALS = [
  ["different reviewer", "sameReviewer"], ["can be dispatched", "notRegistered"], ["by phone", "needConfirmation"],
  ["already approved", "alreadyReviewed"], ["already rejected", "alreadyReviewed"], ["can be confirmed", "alreadyReviewed"],
  ["must differ from", "sameDept"], ["no department may claim", "noEligible"],
];
const board = { user: null, timer: null, choice: new Map(), queue: [], disputes: [], extensions: [] };
// 并单: each waiting ticket's likely duplicates, fetched once per ticket (a channel's request
// is checked when it first shows in the queue), dropped when it leaves the queue.
const dups = new Map();

async function start(user) {
  if (!["dispatcher", "supervisor", "admin"].includes(user.role)) { $("error").textContent = t("notAllowed"); return; }
  board.user = user;
  $("extensions-card").hidden = user.role === "dispatcher";
  try { await loadDepartments(); } catch (err) { $("error").textContent = err.message; }
  await refresh();
  clearInterval(board.timer);
  board.timer = setInterval(refresh, 10000);
}

// A list the page cannot read yet (e.g. an older server) leaves the others working.
async function list(path, fallback) {
  try { return await api(path); } catch (err) { $("error").textContent = t("listUnavailable") + err.message; return fallback; }
}

async function refresh() {
  if (!page.token || !board.user) return;
  $("error").textContent = "";
  const supervisor = board.user.role !== "dispatcher";
  const [queue, reviews] = await Promise.all([
    list("/api/dispatch/queue", []), list("/api/dispatch/reviews", { disputes: [], extensions: [] }),
  ]);
  // Disputes: pending (审核) and approved (复核 by another reviewer); extensions for supervisors.
  Object.assign(board, { queue, disputes: reviews.disputes, extensions: supervisor ? reviews.extensions : [] });
  const waiting = new Set(queue.map((r) => r.id));
  for (const id of [...dups.keys()]) if (!waiting.has(id)) dups.delete(id);
  await Promise.all(queue.filter((r) => !dups.has(r.id)).map(async (r) => dups.set(r.id, await fetchDuplicates(r.id))));
  $("updated").textContent = `${t("updated")} ${new Date().toLocaleTimeString(locale())}`;
  render();
}
$("refresh").addEventListener("click", refresh);

// A table the dispatcher is typing or choosing in is not redrawn under their hands.
const editing = (id) => $(id).contains(document.activeElement) && document.activeElement.tagName !== "BUTTON";

function render() {
  if (!editing("queue")) showQueue();
  if (!editing("disputes")) showDisputes();
  if (!editing("extensions")) showExtensions();
}

function say(text, ok = true) { $("status").textContent = text; $("status").dataset.state = ok ? "ok" : "error"; }

async function act(button, fn, done) {
  button.disabled = true;
  try { await fn(); say(t(done)); } catch (err) { say(conflictText(err, REFUSALS), false); }
  finally { button.disabled = false; await refresh(); }
}

function deptSelect(id, chosen, { multiple = false, empty = false, label }) {
  const s = el("select");
  s.id = id; s.multiple = multiple; s.setAttribute("aria-label", label);
  if (empty) s.append(new Option("—", ""));
  for (const d of departments.list) {
    const o = new Option(`${d.name}（${d.code}）`, d.code);
    o.selected = multiple ? chosen.includes(d.code) : d.code === chosen;
    s.append(o);
  }
  return s;
}

function button(label, onClick, cls) {
  const b = el("button", t(label), cls);
  b.type = "button"; b.dataset.action = label;
  b.addEventListener("click", () => onClick(b));
  return b;
}

// --- the dispatch queue ------------------------------------------------------------------------

function showQueue() {
  $("queue-empty").hidden = board.queue.length > 0;
  $("queue").tBodies[0].replaceChildren(...board.queue.map((r) => {
    // What the dispatcher chose survives the 10-second refresh; else the catalogue's suggestion.
    const choice = board.choice.get(r.id) || { lead: r.suggestion?.lead || "", assisting: r.suggestion?.assisting || [], note: "" };
    board.choice.set(r.id, choice);
    const tr = el("tr", undefined, "queue-row");
    tr.dataset.ticket = r.id;
    const what = el("td");
    what.append(el("strong", `${r.category || "—"}`), el("div", gist(r, 80)), el("div", r.address || "", "muted"));
    what.append(...badges(r), el("div", when(r.created_at), "muted"));
    const similar = el("section", undefined, "dups");
    renderDuplicates(similar, r.id, dups.get(r.id) || [], (out) => {
      say(`${dupT("mergedInto")} ${out.merged_into}`); refresh();
    });
    what.append(similar);
    const lead = deptSelect(`lead-${r.id}`, choice.lead, { empty: true, label: t("lead") });
    lead.addEventListener("change", () => { choice.lead = lead.value; });
    const assisting = deptSelect(`assisting-${r.id}`, choice.assisting, { multiple: true, label: t("assisting") });
    assisting.addEventListener("change", () => { choice.assisting = [...assisting.selectedOptions].map((o) => o.value); });
    const note = el("input"); note.id = `note-${r.id}`; note.value = choice.note; note.placeholder = t("note");
    note.setAttribute("aria-label", t("note")); note.maxLength = 200;
    note.addEventListener("input", () => { choice.note = note.value; });
    const send = (mode) => (b) => {
      if (mode === "direct" && !choice.lead) { say(t("needLead"), false); lead.focus(); return; }
      act(b, async () => {
        // Direct: to the lead (with 协办). Grab: the pool is offered to the chosen lead and
        // assisting departments (none chosen: the catalogue's).
        const body = { mode, note: choice.note || undefined };
        if (mode === "direct") Object.assign(body, { lead: choice.lead, assisting: choice.assisting });
        else body.eligible = [...new Set([choice.lead, ...choice.assisting].filter(Boolean))];
        await api(`/api/tickets/${r.id}/dispatch`, "POST", body);
        board.choice.delete(r.id);
      }, mode === "direct" ? "dispatched" : "published");
    };
    const acts = el("div", undefined, "buttons");
    acts.append(button("direct", send("direct")), button("grab", send("grab")),
      button("confirmPhone", (b) => act(b, () => api(`/api/tickets/${r.id}/confirmations`, "POST", {}), "phoneConfirmed")), note);
    const cells = [el("td", String(r.id)), what, el("td"), el("td"), el("td")];
    cells[2].append(lead); cells[3].append(assisting); cells[4].append(acts);
    tr.append(...cells);
    return tr;
  }));
}

// --- disputes: 审核 (approve/reject) then 复核 (confirm, another reviewer) -------------------------

function showDisputes() {
  $("disputes-empty").hidden = board.disputes.length > 0;
  $("disputes").tBodies[0].replaceChildren(...board.disputes.map((d) => {
    const tr = el("tr", undefined, "queue-row");
    tr.dataset.dispute = d.id; tr.dataset.ticket = d.ticket_id;
    const note = el("input"); note.placeholder = t("note"); note.setAttribute("aria-label", t("note")); note.maxLength = 200;
    const acts = el("div", undefined, "buttons");
    if (d.status === "pending") {
      const to = deptSelect(`new-dept-${d.id}`, "", { empty: true, label: t("newDept") });
      to.title = t("newDept");
      const review = (decision) => (b) => act(b, () => api(`/api/disputes/${d.id}/review`, "POST", {
        decision, note: note.value, ...(decision === "approve" && to.value ? { new_department: to.value } : {}),
      }), "reviewed");
      acts.append(to, note, button("approve", review("approve")), button("reject", review("reject"), "danger"));
    } else {
      // 双人复核: whoever approved it may not confirm it (the server refuses it too).
      const confirm = button("confirm", (b) => act(b, () => api(`/api/disputes/${d.id}/confirm`, "POST", { note: note.value }), "confirmed"));
      const mine = d.reviewed_by === `${board.user.role}:${board.user.username}`;
      confirm.disabled = mine;
      acts.append(note, confirm);
      if (mine) { confirm.title = t("sameReviewer"); acts.append(el("span", t("waitingSecond"), "muted second")); }
    }
    const status = `${sub("review", d.status)}${d.reviewed_by ? " · " + d.reviewed_by : ""}${d.new_department ? " → " + deptName(d.new_department) : ""}`;
    for (const v of [d.ticket_id, deptName(d.department), d.reason, status]) tr.append(el("td", String(v)));
    tr.appendChild(el("td")).append(acts);
    return tr;
  }));
}

// --- extensions (supervisors) ------------------------------------------------------------------

function showExtensions() {
  $("extensions-empty").hidden = board.extensions.length > 0;
  $("extensions").tBodies[0].replaceChildren(...board.extensions.map((x) => {
    const tr = el("tr", undefined, "queue-row");
    tr.dataset.extension = x.id; tr.dataset.ticket = x.ticket_id;
    for (const v of [x.ticket_id, deptName(x.department), x.days, x.reason, when(x.requested_at)]) tr.append(el("td", String(v)));
    const note = el("input"); note.placeholder = t("note"); note.setAttribute("aria-label", t("note")); note.maxLength = 200;
    const decide = (approve) => (b) => act(b, () => api(`/api/extensions/${x.id}/decide`, "POST", { approve, note: note.value }), "decided");
    const acts = el("div", undefined, "buttons");
    acts.append(note, button("grant", decide(true)), button("refuse", decide(false), "danger"));
    tr.appendChild(el("td")).append(acts);
    return tr;
  }));
}

setup({
  text: TEXT, view: "dispatch-view", start, onLanguage: () => { if (board.user) render(); },
  onSignedOut: () => { clearInterval(board.timer); board.user = null; },
});
