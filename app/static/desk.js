// The agent desk: signs in, follows the agent's WebSocket (state changes, screen pops,
// transfers) and does everything else through the REST API with the session's bearer token
// (common.js: token, api, language, sign-in). No framework.
"use strict";

const TEXT = {
  zh: {
    title: "12345 热线座席工作台", myState: "我的状态", queueLogin: "签入队列", ready: "示闲",
    pause: "示忙", endWrapup: "结束话后", queueLogout: "签出队列", waiting: "等待来电…",
    caller: "来电号码", dialled: "拨打号码", ticketNo: "工单号", callTime: "通话时长", target: "转接号码",
    consult: "咨询转接", completeTransfer: "完成转接", cancelTransfer: "取消转接", threeway: "三方通话",
    blind: "直接转接", hangup: "挂断", category: "类别", address: "地址", district: "所属区县",
    noDistrict: "未指定", description: "诉求内容",
    urgency: "紧急程度", normal: "一般", urgent: "紧急", consent: "同意回访联系", confidential: "保密件", save: "保存",
    register: "登记受理", badCategory: "请从目录中选择类别", categoryHint: "从目录中选择，可输入筛选", needCategory: "登记受理前请选择类别", earlier: "历史工单", created: "时间", status: "状态", saved: "已保存",
    registered: "已登记受理", callEnded: "通话已结束", consulting: "正在咨询…", centreAnswered: "已接听，可完成转接", transferred: "已转接",
    cancelled: "已取消转接", threewayOn: "三方通话中", badTarget: "请输入转接号码",
    callBack: "回拨", hold: "保持", unhold: "恢复通话", missed: "漏接回拨", waited: "等待",
    dialling: "正在回拨：先响您的电话", webPhone: "网页电话", autoAnswer: "自动接听", answer: "接听",
    kbTitle: "知识库推荐", kbNone: "暂无匹配的知识库文章", kbAnswer: "答复并办结", kbUsed: "已引用",
    kbVersion: "版", kbTimes: "次", kbAnswered: "已直接答复，引用知识库文章",
    liveTitle: "实时转写（市民）", alertHeard: "听到紧急词", transferTo: "一键转接", alertTransferred: "已发起转接",
    phone: { off: "未启用", connecting: "连接中", registered: "已注册", failed: "注册失败", ringing: "来电振铃", talking: "通话中" },
    states: { logged_out: "未签入", ready: "空闲", paused: "示忙", on_call: "通话中", wrapup: "话后处理" },
    tickets: { draft: "受理中", registered: "已受理", answered: "直接答复", dispatched: "已派单",
      accepted: "已签收", disputed: "异议中", replied: "已答复", callback: "回访中", reopened: "重办",
      closed: "办结", merged: "已并单" },
  },
  en: {
    title: "12345 Hotline Agent Desk", myState: "My state",
    queueLogin: "Log in to queues", ready: "Ready", pause: "Pause", endWrapup: "End wrap-up",
    queueLogout: "Log out of queues", waiting: "Waiting for a call…", caller: "Caller",
    dialled: "Dialled", ticketNo: "Ticket", callTime: "Call time", target: "Transfer to",
    consult: "Consult", completeTransfer: "Complete transfer", cancelTransfer: "Cancel transfer",
    threeway: "Three-way", blind: "Blind transfer", hangup: "Hang up", category: "Category",
    address: "Address", district: "District", noDistrict: "Not set", description: "Request",
    urgency: "Urgency", normal: "Normal",
    urgent: "Urgent", consent: "May call back", confidential: "Confidential", save: "Save", register: "Register",
    badCategory: "Choose a category from the catalogue", categoryHint: "Choose from the catalogue; type to filter",
    needCategory: "Choose a category before registering",
    earlier: "Earlier tickets", created: "Created", status: "Status", saved: "Saved",
    registered: "Registered", callEnded: "Call ended", consulting: "Consulting…", centreAnswered: "answered: the transfer may be completed",
    transferred: "Transferred", cancelled: "Transfer cancelled", threewayOn: "Three-way call",
    badTarget: "Enter a number to transfer to", callBack: "Call back", hold: "Hold", unhold: "Resume", missed: "Missed calls",
    waited: "Waited", dialling: "Calling back: your phone rings first", webPhone: "Web phone", autoAnswer: "Auto answer",
    answer: "Answer", kbTitle: "Knowledge base", kbNone: "No matching article", kbAnswer: "Answer and close",
    kbUsed: "used", kbVersion: "v", kbTimes: "times", kbAnswered: "Answered directly, citing article",
    liveTitle: "Live transcript (citizen)", alertHeard: "Emergency phrase heard",
    transferTo: "Transfer to", alertTransferred: "Transfer started",
    phone: { off: "off", connecting: "connecting", registered: "registered", failed: "registration failed", ringing: "ringing", talking: "talking" },
    states: { logged_out: "Logged out", ready: "Ready", paused: "Paused", on_call: "On call", wrapup: "Wrap-up" },
    tickets: { draft: "Draft", registered: "Registered", answered: "Answered", dispatched: "Dispatched",
      accepted: "Accepted", disputed: "Disputed", replied: "Replied", callback: "Callback",
      reopened: "Reopened", closed: "Closed", merged: "Merged" },
  },
};

const desk = {
  user: null, state: null, pop: null, transfer: null, socket: null,
  callStarted: null, stateSince: null, retry: 500,
  answered: new Set(), // transfers whose centre answered (the frame may beat the POST's reply)
  categories: null, // the catalogue's categories, the only ones a ticket may be saved with
  heard: [], // the citizen's final transcript lines of this call (knowledge-base queries)
  kbTimer: null, kbAsked: 0, // the debounce, and the newest search (older answers are dropped)
};

function applyLanguage() {
  showState();
  if (desk.phoneState) phoneState(desk.phoneState);
  if (desk.pop) showEarlier(desk.pop.earlier_tickets);
  if (desk.categories) showCategories();
  $("t-category").placeholder = t("categoryHint"); // the field is a choice, not free text
}

// --- sign-in (common.js) ------------------------------------------------------------------

function deskSignedOut() {
  desk.user = null;
  if (desk.socket) { desk.socket.onclose = null; desk.socket.close(); desk.socket = null; }
  if (desk.phone) { desk.phone.stop(); desk.phone = null; }
}

// Where a signed-in user without an agent id works.
const HOME = { department: "/portal", dispatcher: "/dispatch" };
const NEXT = ["/wallboard", "/callbacks", "/portal", "/dispatch", "/kb"];

async function start(user) {
  desk.user = user;
  $("who").textContent = `${user.username}${user.agent_id ? " · " + user.agent_id : ""}`;
  const reasons = await api("/api/pause-reasons");
  $("pause-reason").replaceChildren(...reasons.map((r) => new Option(r, r)));
  const next = new URLSearchParams(location.search).get("next");
  // The other pages send their users here to sign in, then back.
  if (NEXT.includes(next) && user.role !== "agent") { location.assign(next); return; }
  if (!user.agent_id) {  // supervisors and admins watch the wallboard; departments the portal
    location.assign(HOME[user.role] || "/wallboard");
    return;
  }
  loadCategories();
  loadDistricts();
  setState(await api(`/api/agents/${user.agent_id}`));
  connect();
  loadMissed();
  startPhone(await api(`/api/agents/${user.agent_id}/softphone`));
}

// --- the browser softphone (JsSIP over Asterisk's WSS, DTLS-SRTP) --------------------------

function phoneState(state) {
  desk.phoneState = state;
  $("phone-state").dataset.state = state;
  $("phone-state").textContent = t("phone")[state];
  $("answer").disabled = state !== "ringing";
}

function startPhone(conf) {
  if (!conf.webrtc || typeof JsSIP === "undefined") return;
  $("phone-bar").hidden = false;
  $("auto-answer").checked = localStorage.getItem("desk.autoAnswer") === "1";
  phoneState("connecting");
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(conf.ws_url)], uri: conf.uri, password: conf.password,
    register: true, session_timers: false,
  });
  ua.on("registered", () => phoneState("registered"));
  ua.on("registrationFailed", () => phoneState("failed"));
  ua.on("newRTCSession", (ev) => {
    if (ev.originator !== "remote") return;
    const session = ev.session;
    desk.phoneSession = session;
    phoneState("ringing");
    session.on("peerconnection", (e) => e.peerconnection.addEventListener("track", (tr) => {
      $("remote-audio").srcObject = tr.streams[0];
    }));
    session.on("confirmed", () => { phoneState("talking"); holdButton(); });
    session.on("hold", holdButton);
    session.on("unhold", holdButton);
    for (const end of ["ended", "failed"]) session.on(end, () => { desk.phoneSession = null; phoneState("registered"); holdButton(); });
    if ($("auto-answer").checked) answerPhone();
  });
  desk.phone = ua;
  ua.start();
}

// Hold is the phone's own (a re-INVITE; Asterisk plays music to the citizen), so the desk
// holds only calls on its browser phone; a desk phone has its own hold key.
function holdButton() {
  const session = desk.phoneSession;
  const held = Boolean(session && session.isOnHold().local);
  $("hold").disabled = !(session && session.isEstablished());
  $("hold").dataset.held = held ? "1" : "0";
  $("hold").dataset.i18n = held ? "unhold" : "hold";
  $("hold").textContent = t(held ? "unhold" : "hold");
}
$("hold").addEventListener("click", () => {
  const session = desk.phoneSession;
  if (!session) return;
  if (session.isOnHold().local) session.unhold(); else session.hold();
});

function answerPhone() {
  if (desk.phoneSession) desk.phoneSession.answer({ mediaConstraints: { audio: true, video: false } });
}
$("answer").addEventListener("click", answerPhone);
$("auto-answer").addEventListener("change", () => localStorage.setItem("desk.autoAnswer", $("auto-answer").checked ? "1" : "0"));

// --- the agent's socket -------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/agents/${desk.user.agent_id}?token=${encodeURIComponent(page.token)}`);
  desk.socket = ws;
  ws.onopen = () => { desk.retry = 500; $("link").className = "link up"; $("link").dataset.i18n = "online"; $("link").textContent = t("online"); };
  ws.onmessage = (msg) => {
    const frame = JSON.parse(msg.data);
    if (frame.event === "agent.state") setState({ state: frame.state, reason: frame.reason, since: frame.at });
    else if (frame.event === "screen_pop") showPop(frame);
    else if (frame.event === "live_transcript") showLive(frame);
    else if (frame.event === "keyword_alert") showAlert(frame);
    else if (frame.event === "transfer") transferAnswered(frame);
  };
  ws.onclose = () => {
    $("link").className = "link down"; $("link").dataset.i18n = "offline"; $("link").textContent = t("offline");
    if (page.token) setTimeout(connect, desk.retry = Math.min(desk.retry * 2, 10000));
  };
}

// --- agent state --------------------------------------------------------------------------

function setState(s) {
  const endedCall = desk.state === "on_call" && s.state !== "on_call";
  desk.state = s.state; desk.stateReason = s.reason; desk.stateSince = new Date(s.since);
  showState();
  if (endedCall && desk.pop) { desk.callStarted = null; $("call-status").textContent = t("callEnded"); }
}

function tick() {
  if (desk.stateSince) $("state-timer").textContent = fmt((Date.now() - desk.stateSince) / 1000);
  if (desk.callStarted) $("call-timer").textContent = fmt((Date.now() - desk.callStarted) / 1000);
}

function showState() {
  if (!desk.state) return;
  tick();
  $("state").dataset.state = desk.state;
  $("state").textContent = t("states")[desk.state];
  $("state-reason").textContent = desk.state === "paused" && desk.stateReason ? desk.stateReason : "";
  const s = desk.state;
  $("queue-login").disabled = s !== "logged_out";
  $("ready").disabled = !(s === "paused" || s === "wrapup");
  $("pause").disabled = s === "logged_out";
  $("end-wrapup").disabled = s !== "wrapup";
  $("queue-logout").disabled = s === "logged_out" || s === "on_call";
}

async function agentAction(action, body) {
  $("state-error").textContent = "";
  try { await api(`/api/agents/${desk.user.agent_id}/${action}`, "POST", body); }
  catch (err) { $("state-error").textContent = err.message; }
}
$("queue-login").addEventListener("click", () => agentAction("login"));
$("ready").addEventListener("click", () => agentAction("ready"));
$("pause").addEventListener("click", () => agentAction("pause", { reason: $("pause-reason").value }));
$("end-wrapup").addEventListener("click", () => agentAction("end-wrapup"));
$("queue-logout").addEventListener("click", () => agentAction("logout"));

// --- the screen pop -----------------------------------------------------------------------

function showPop(pop) {
  desk.pop = pop; desk.transfer = null; desk.callStarted = Date.now();
  $("no-call").hidden = true; $("call").hidden = false;
  $("pop-caller").textContent = pop.caller || "—";
  $("pop-dialled").textContent = pop.dialled;
  $("pop-ticket").textContent = pop.ticket_id;
  $("t-category").value = pop.category || "";
  $("t-category").setCustomValidity("");
  $("t-address").value = ""; $("t-district").value = ""; $("t-description").value = "";
  $("t-urgency").value = "normal";
  $("t-consent").checked = false; $("t-confidential").checked = false;
  $("save-status").textContent = ""; $("call-status").textContent = "";
  $("duplicates").hidden = true; $("duplicates").replaceChildren();
  transferButtons(false);
  $("live").hidden = true; $("alert").hidden = true;
  $("live-lines").replaceChildren(); $("live-partial").textContent = "";
  desk.heard = []; $("kb-hits").replaceChildren(); $("kb-status").textContent = "";
  showEarlier(pop.earlier_tickets);
  $("t-description").focus();
}

// Live transcription (app/live.py): partials replace each other, finals are kept; a keyword
// alert offers the one-key attended transfer to the centre it suggests.
function showLive(frame) {
  if (!desk.pop || frame.call_id !== desk.pop.call_id) return;
  $("live").hidden = false;
  if (frame.kind === "final") {
    $("live-lines").appendChild(document.createElement("li")).textContent = frame.text;
    $("live-partial").textContent = "";
    desk.heard.push(frame.text);
    suggestSoon();
    $("live-lines").scrollTop = $("live-lines").scrollHeight;
  } else {
    $("live-partial").textContent = frame.text;
  }
}

function showAlert(frame) {
  if (!desk.pop || frame.call_id !== desk.pop.call_id) return;
  $("live").hidden = false; $("alert").hidden = false;
  $("alert-text").textContent = `${t("alertHeard")}：${frame.category_zh}「${frame.phrase}」`;
  const button = $("alert-transfer");
  button.hidden = !frame.centre || !frame.transfer_path;
  button.textContent = `${t("transferTo")} ${frame.centre || ""}`;
  button.onclick = () => callAction(async () => {
    desk.transfer = await api(frame.transfer_path, "POST", { target: frame.centre, mode: "attended" });
    transferButtons(true);
  }, "consulting");
}

function showEarlier(rows) {
  const states = t("tickets");
  $("earlier").tBodies[0].replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    for (const v of [r.id, new Date(r.created_at).toLocaleString(locale()), r.category || "", states[r.state] || r.state]) {
      tr.appendChild(document.createElement("td")).textContent = v;
    }
    return tr;
  }));
}

// --- the category: a choice from the catalogue (GET /api/catalogue/categories), so dispatch,
// KPIs and reports group tickets alike; typing filters the list (datalist), the save refuses
// anything else.

// The district (所属区县): the department tree's districts, so the dispatcher's suggestion
// can use the catalogue's entries for that district.
async function loadDistricts() {
  let rows;
  try { rows = await api("/api/departments"); } catch (_) { return; }
  const first = $("t-district").options[0];
  $("t-district").replaceChildren(first, ...rows.filter((d) => d.kind === "district" && d.active !== false).map((d) => {
    const o = document.createElement("option");
    o.value = d.code; o.textContent = d.name;
    return o;
  }));
}

async function loadCategories() {
  // Unreadable catalogue: the server still refuses an unknown category on save.
  try { desk.categories = await api("/api/catalogue/categories"); } catch (_) { return; }
  showCategories();
}

function categoryLabel(c) {
  return c.name_zh && c.name_zh !== c.category ? `${c.category} · ${c.name_zh}` : c.category;
}

function showCategories() {
  $("categories").replaceChildren(...desk.categories.map((c) => {
    const o = document.createElement("option");
    o.value = c.category; o.label = categoryLabel(c);
    return o;
  }));
}

function checkCategory() {
  const field = $("t-category");
  const v = field.value.trim();
  const known = !desk.categories || desk.categories.some((c) => c.category === v);
  field.setCustomValidity(v && !known ? t("badCategory") : "");
  return !v || known;
}
$("t-category").addEventListener("input", checkCategory);

async function saveTicket(register) {
  $("save-status").textContent = "";
  if (!checkCategory()) {
    $("save-status").textContent = t("badCategory");
    $("save-status").dataset.state = "invalid";
    $("t-category").focus();
    return null;
  }
  if (register && !$("t-category").value.trim()) {
    $("save-status").textContent = t("needCategory");
    $("save-status").dataset.state = "invalid";
    $("t-category").focus();
    return null;
  }
  try {
    const ticket = await api(`/api/tickets/${desk.pop.ticket_id}`, "PATCH", {
      category: $("t-category").value, address: $("t-address").value, district: $("t-district").value,
      description: $("t-description").value, urgency: $("t-urgency").value,
      contact_consent: $("t-consent").checked, confidential: $("t-confidential").checked,
      register_ticket: register,
    });
    $("save-status").textContent = ticket.state === "registered" ? t("registered") : t("saved");
    $("save-status").dataset.state = ticket.state;
    // 并单: likely duplicates of what was just saved, each with its merge button.
    const ticketId = ticket.id;
    renderDuplicates($("duplicates"), ticketId, await fetchDuplicates(ticketId), (out) => {
      $("duplicates").hidden = true;
      $("save-status").textContent = `${dupT("mergedInto")} ${out.merged_into}`;
      $("save-status").dataset.state = out.state;
    });
    return ticket;
  } catch (err) {
    $("save-status").textContent = err.message;
    return null;
  }
}
$("save").addEventListener("click", () => saveTicket(false));
$("register").addEventListener("click", () => saveTicket(true));

// --- knowledge base (GET /api/kb/search): while the agent types the request, and as the
// citizen's words arrive on a live-transcribed call, the best-matching articles valid now;
// 答复并办结 registers the ticket if needed and answers it directly citing the article.

function suggestSoon() {
  clearTimeout(desk.kbTimer);
  desk.kbTimer = setTimeout(suggest, 400); // debounced: one search per pause in typing
}
$("t-description").addEventListener("input", suggestSoon);

async function suggest() {
  // The request as typed, then the citizen's last words (the server keeps the newest 500 chars).
  const q = [$("t-description").value, ...desk.heard.slice(-3)].join(" ").trim();
  const asked = ++desk.kbAsked;
  if (!q) { $("kb-hits").replaceChildren(); $("kb-status").textContent = ""; return; }
  let hits;
  try { hits = await api(`/api/kb/search?limit=5&q=${encodeURIComponent(q)}`); }
  catch (err) { if (asked === desk.kbAsked) $("kb-status").textContent = err.message; return; }
  if (asked !== desk.kbAsked) return;
  $("kb-status").textContent = hits.length ? "" : t("kbNone");
  $("kb-hits").replaceChildren(...hits.map(kbHit));
}

function kbHit(a) {
  const li = el("li", null, "kb-hit");
  li.dataset.article = a.id;
  li.appendChild(el("strong", a.question, "kb-question"));
  const meta = [`#${a.id}`, `${t("kbVersion")}${a.version}`, a.category || "", `${t("kbUsed")} ${a.use_count} ${t("kbTimes")}`];
  li.appendChild(el("span", meta.filter(Boolean).join(" · "), "kb-meta"));
  li.appendChild(el("p", a.answer, "kb-answer-text"));
  const b = li.appendChild(el("button", t("kbAnswer"), "kb-answer"));
  b.type = "button";
  b.addEventListener("click", () => answerWith(a));
  return li;
}

async function answerWith(a) {
  // A draft needs its category to be registered: the article's, when the agent chose none.
  if (!$("t-category").value.trim() && a.category) $("t-category").value = a.category;
  const saved = await saveTicket(true);
  if (!saved) return;
  try {
    const ticket = await api(`/api/tickets/${desk.pop.ticket_id}/direct-answer`, "POST", { article_id: a.id, version: a.version });
    $("save-status").textContent = `${t("kbAnswered")} #${a.id} ${t("kbVersion")}${a.version}`;
    $("save-status").dataset.state = ticket.state;
    for (const b of document.querySelectorAll(".kb-answer")) b.disabled = true;
  } catch (err) {
    $("save-status").textContent = err.message;
  }
}

// --- call control -------------------------------------------------------------------------

// While a consultation rings, only 取消转接: completing before the centre answers would leave
// the citizen with a ringing line. 完成转接 waits for the centre's answer (a ``transfer`` frame).
function transferButtons(consulting) {
  const answered = consulting && desk.transfer && desk.answered.has(desk.transfer.id);
  $("complete-transfer").disabled = !answered; $("cancel-transfer").disabled = !consulting;
  $("consult").disabled = consulting; $("blind").disabled = consulting; $("threeway").disabled = consulting;
}

function transferAnswered(frame) {
  desk.answered.add(frame.transfer_id);
  if (desk.transfer && desk.transfer.id === frame.transfer_id) {
    transferButtons(true);
    $("call-status").textContent = `${frame.target} ${t("centreAnswered")}`;
  }
}

async function callAction(fn, done) {
  try { await fn(); $("call-status").textContent = t(done); }
  catch (err) { $("call-status").textContent = err.message; }
}

function target() {
  const v = $("transfer-target").value.trim();
  if (!/^[0-9]{3,11}$/.test(v)) throw new Error(t("badTarget"));
  return v;
}

const startTransfer = (mode) => api(`/api/calls/${encodeURIComponent(desk.pop.call_id)}/transfers`, "POST", { target: target(), mode });
$("consult").addEventListener("click", () => callAction(async () => { desk.transfer = await startTransfer("attended"); transferButtons(true); }, "consulting"));
$("threeway").addEventListener("click", () => callAction(() => startTransfer("threeway"), "threewayOn"));
$("blind").addEventListener("click", () => callAction(() => startTransfer("blind"), "transferred"));
$("complete-transfer").addEventListener("click", () => callAction(async () => { await api(`/api/transfers/${desk.transfer.id}/complete`, "POST"); transferButtons(false); }, "transferred"));
$("cancel-transfer").addEventListener("click", () => callAction(async () => { await api(`/api/transfers/${desk.transfer.id}/cancel`, "POST"); transferButtons(false); }, "cancelled"));
$("hangup").addEventListener("click", () => callAction(() => api(`/api/calls/${encodeURIComponent(desk.pop.call_id)}/hangup`, "POST"), "callEnded"));

// --- click-to-call: the caller of this ticket, and the missed-call list (漏接回拨) ---------------

$("call-back").addEventListener("click", () => callAction(
  () => api(`/api/agents/${desk.user.agent_id}/dial`, "POST", { number: desk.pop.caller }), "dialling"));

async function loadMissed() {
  if (!desk.user || !desk.user.agent_id) return;
  let rows;
  try { rows = await api("/api/missed-calls?state=open&limit=20"); } catch (_) { return; }
  $("missed-calls").tBodies[0].replaceChildren(...rows.map((m) => {
    const tr = document.createElement("tr");
    for (const v of [m.caller, m.dialled, new Date(m.at).toLocaleString(locale()), m.wait_seconds == null ? "—" : fmt(m.wait_seconds)]) {
      tr.appendChild(document.createElement("td")).textContent = v;
    }
    const b = tr.appendChild(document.createElement("td")).appendChild(document.createElement("button"));
    b.type = "button"; b.textContent = t("callBack");
    b.addEventListener("click", async () => {
      try { await api(`/api/missed-calls/${m.id}/call`, "POST", { agent_id: desk.user.agent_id }); b.disabled = true; }
      catch (err) { $("state-error").textContent = err.message; }
    });
    return tr;
  }));
}
$("missed-refresh").addEventListener("click", loadMissed);
setInterval(loadMissed, 30000);

// --- clocks, language, start-up -----------------------------------------------------------

setInterval(tick, 500);

setup({ text: TEXT, view: "desk-view", start, onLanguage: applyLanguage, onSignedOut: deskSignedOut });
