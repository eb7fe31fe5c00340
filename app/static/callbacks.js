// The callback campaign monitor (满意度回访): reads /api/callbacks/campaigns every 2 s with the
// desk's session token (signed in on /desk); pause/resume a campaign; the manual follow-up list.
"use strict";

const TEXT = {
  zh: { title: "满意度回访监控", followUp: "待人工跟进", ticket: "工单", number: "号码", status: "状态",
    attempts: "拨打次数", finished: "结束时间", progress: "进度", answerRate: "接通率", ratings: "评价分布",
    dialling: "正在拨打", pause: "暂停", resume: "继续", paused: "已暂停", running: "进行中", updated: "更新于",
    statuses: { pending: "待回访", dialling: "拨打中", done: "已回访", unreachable: "无法联系", no_rating: "未评价",
      do_not_call: "免打扰", declined: "不同意回访", cancelled: "已取消" },
    rating: { "满意": "满意", "基本满意": "基本满意", "不满意": "不满意" } },
  en: { title: "Satisfaction callbacks", followUp: "For manual follow-up", ticket: "Ticket", number: "Number",
    status: "Status", attempts: "Attempts", finished: "Finished", progress: "Progress", answerRate: "Answer rate",
    ratings: "Ratings", dialling: "Dialling now", pause: "Pause", resume: "Resume", paused: "Paused",
    running: "Running", updated: "Updated",
    statuses: { pending: "Pending", dialling: "Dialling", done: "Done", unreachable: "Unreachable",
      no_rating: "No rating", do_not_call: "Do not call", declined: "Declined callbacks",
      cancelled: "Cancelled" },
    rating: { "满意": "Satisfied", "基本满意": "Basically satisfied", "不满意": "Unsatisfied" } },
};
const FOLLOW_UP = ["unreachable", "no_rating", "do_not_call", "declined"];
const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("desk.lang") || "zh";
const token = sessionStorage.getItem("desk.token");
const t = (k) => TEXT[lang][k] ?? k;
if (!token) location.replace("/desk?next=/callbacks");

async function api(path, method = "GET") {
  const resp = await fetch(path, { method, headers: { Authorization: `Bearer ${token}` } });
  if (resp.status === 401) location.replace("/desk?next=/callbacks");
  const data = await resp.json();
  if (!resp.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};
const pct = (x) => x == null ? "—" : `${(100 * x).toFixed(1)}%`;

function campaignCard(c) {
  const card = el("article", undefined, "campaign");
  card.dataset.campaign = c.name;
  card.append(el("h2", `${c.name} · ${c.paused ? t("paused") : t("running")}`));
  const bar = el("progress");
  bar.max = 1; bar.value = c.progress; bar.id = `progress-${c.name}`;
  card.append(el("label", `${t("progress")} ${pct(c.progress)} `), bar);
  const facts = el("dl");
  const fact = (k, v) => facts.append(el("dt", k), el("dd", v));
  for (const [s, n] of Object.entries(c.statuses)) fact(t("statuses")[s] ?? s, String(n));
  fact(t("dialling"), `${c.dialling_now} / ${c.max_channels}`);
  fact(t("answerRate"), pct(c.answer_rate));
  fact(t("ratings"), Object.entries(c.ratings).map(([r, n]) => `${t("rating")[r] ?? r} ${n}`).join("，") || "—");
  card.append(facts);
  const toggle = el("button", c.paused ? t("resume") : t("pause"));
  toggle.type = "button"; toggle.dataset.action = c.paused ? "resume" : "pause";
  toggle.addEventListener("click", () =>
    api(`/api/callbacks/campaigns/${c.name}/${toggle.dataset.action}`, "POST").then(refresh)
      .catch((e) => { $("error").textContent = e.message; }));
  card.append(toggle);
  return card;
}

async function refresh() {
  try {
    const [campaigns, ...lists] = await Promise.all([api("/api/callbacks/campaigns"),
      ...FOLLOW_UP.map((s) => api(`/api/callbacks?status=${s}&limit=50`))]);
    $("error").textContent = "";
    $("campaigns").replaceChildren(...campaigns.map(campaignCard));
    $("follow-up").tBodies[0].replaceChildren(...lists.flat().map((cb) => {
      const tr = document.createElement("tr");
      tr.dataset.ticket = cb.ticket_id;
      for (const v of [cb.ticket_id, cb.number, t("statuses")[cb.status] ?? cb.status, cb.attempts,
        cb.finished_at ? new Date(cb.finished_at).toLocaleString(lang === "zh" ? "zh-CN" : "en") : "—"]) {
        tr.appendChild(el("td", String(v)));
      }
      return tr;
    }));
    $("updated").textContent = `${t("updated")} ${new Date().toLocaleTimeString(lang === "zh" ? "zh-CN" : "en")}`;
  } catch (e) { $("error").textContent = e.message; }
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  refresh();
}
$("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("desk.lang", lang); applyLanguage(); });
if (token) {
  applyLanguage();
  setInterval(refresh, 2000);
}
