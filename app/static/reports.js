// The reports page (统计报表): generate a 日报/周报/月报/季报/专报 (built in the background: a progress
// bar follows GET /api/reports/{id}), the stored reports, and one report laid out for reading
// and printing, with ECharts charts (SVG, so they print sharp) and XLSX/CSV downloads.
"use strict";

const TEXT = {
  zh: {
    title: "12345 热线统计报表", generate: "生成报表", kind: "类型", day: "日期（所在周期）", from: "起始日期",
    to: "结束日期", category: "类别（专题）", generateButton: "生成", stored: "已生成的报表", no: "编号",
    period: "统计周期", status: "状态", createdBy: "生成者", createdAt: "生成时间", none: "还没有报表",
    daily: "日报", weekly: "周报", monthly: "月报", quarterly: "季报", special: "专报", print: "打印",
    overview: "一、总体情况", byCategory: "二、诉求类别", kpis: "三、考核指标", ranking: "四、排名通报",
    hotspots: "五、热点分析", hotAddresses: "热点地址", hotStreets: "热点街道（乡镇）",
    rising: "上升类别（近7天比前7天）", surges: "六、突增预警", unsatisfied: "七、不满意工单",
    statuses: { queued: "排队中", running: "生成中", done: "已完成", failed: "失败" },
    needCategory: "专报须选择类别", building: "正在生成", builtOk: "已生成", failed: "生成失败：",
  },
  en: {
    title: "12345 Hotline Reports", generate: "Generate a report", kind: "Kind", day: "A day in the period",
    from: "From", to: "To", category: "Category (topic)", generateButton: "Generate", stored: "Reports",
    no: "No.", period: "Period", status: "Status", createdBy: "By", createdAt: "Created", none: "No reports yet",
    daily: "Daily", weekly: "Weekly", monthly: "Monthly", quarterly: "Quarterly", special: "Special", print: "Print",
    overview: "1. Overview", byCategory: "2. Categories", kpis: "3. KPIs", ranking: "4. Department ranking",
    hotspots: "5. Hotspots", hotAddresses: "Addresses", hotStreets: "Streets and towns",
    rising: "Rising categories (last 7 days vs the 7 before)", surges: "6. Surge alerts",
    unsatisfied: "7. Unsatisfied tickets",
    statuses: { queued: "Queued", running: "Running", done: "Done", failed: "Failed" },
    needCategory: "A special report needs a category", building: "Building", builtOk: "Done", failed: "Failed: ",
  },
};
// The report itself is in Chinese (it is the centre's document); the page's controls follow the toggle.
const RATING = { 1: "满意", 2: "基本满意", 3: "不满意" };
const STATE = { draft: "受理中", registered: "已受理", answered: "直接答复", dispatched: "已派单", accepted: "已签收",
  disputed: "异议中", replied: "已答复", callback: "回访中", reopened: "重办", closed: "办结", merged: "已并单" };
const board = { user: null, reports: [], current: null, charts: [], polling: null };

const pct = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)}%`);
const signed = (x) => (x === null || x === undefined ? "—" : `${x > 0 ? "+" : ""}${(100 * x).toFixed(1)}%`);
const kpiValue = (k, v) => (v === null || v === undefined ? "—" : k.unit === "ratio" ? pct(v) : `${v.toFixed(1)} 秒`);

function table(id, headers, rows, numeric = []) {
  const head = document.createElement("thead");
  const tr = document.createElement("tr");
  headers.forEach((h, i) => tr.append(el("th", h, numeric.includes(i) ? "num" : undefined)));
  head.append(tr);
  const body = document.createElement("tbody");
  for (const row of rows) {
    const line = document.createElement("tr");
    row.forEach((v, i) => {
      const cell = v instanceof Node ? el("td") : el("td", v === null || v === undefined ? "—" : String(v));
      if (v instanceof Node) cell.append(v);
      if (numeric.includes(i)) cell.className = "num";
      line.append(cell);
    });
    body.append(line);
  }
  $(id).replaceChildren(head, body);
}

function changeCell(x) {
  const span = el("span", signed(x));
  if (x > 0) span.className = "up"; else if (x < 0) span.className = "down";
  return span;
}

async function start(user) {
  if (!["supervisor", "admin"].includes(user.role)) { $("error").textContent = t("notAllowed"); return; }
  board.user = user;
  const yesterday = new Date(Date.now() - 86400000);
  const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  $("g-date").value = iso(yesterday);
  $("g-to").value = iso(yesterday);
  $("g-from").value = iso(new Date(yesterday.getTime() - 29 * 86400000));
  try {
    const categories = await api("/api/catalogue/categories");
    $("g-categories").replaceChildren(...categories.map((c) => { const o = el("option"); o.value = c.category; return o; }));
  } catch (err) { $("error").textContent = err.message; }
  await refresh();
  const wanted = new URLSearchParams(location.search).get("id");
  if (wanted) await openReport(Number(wanted));
}

async function refresh() {
  try {
    board.reports = await api("/api/reports");
    $("error").textContent = "";
  } catch (err) { $("error").textContent = err.message; return; }
  $("list-empty").hidden = board.reports.length > 0;
  $("report-list").tBodies[0].replaceChildren(...board.reports.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.report = r.id; tr.tabIndex = 0;
    const span = r.period_first === r.period_last ? r.period_first : `${r.period_first} 至 ${r.period_last}`;
    for (const v of [r.id, t(r.kind), span, r.topic || "—",
      r.status === "running" ? `${t("statuses").running} ${r.progress}%` : t("statuses")[r.status] ?? r.status,
      r.created_by, when(r.created_at)]) tr.append(el("td", String(v)));
    if (r.status === "done") {
      tr.addEventListener("click", () => openReport(r.id));
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openReport(r.id); });
    }
    if (board.current && board.current.id === r.id) tr.classList.add("selected");
    return tr;
  }));
}

function showKind() {
  const special = $("g-kind").value === "special";
  for (const e of document.querySelectorAll(".for-special")) e.hidden = !special;
  for (const e of document.querySelectorAll(".for-period")) e.hidden = special;
  $("g-date").required = !special;
}

async function generate(ev) {
  ev.preventDefault();
  const kind = $("g-kind").value;
  const body = { kind };
  if (kind === "special") {
    if (!$("g-category").value) { $("error").textContent = t("needCategory"); return; }
    Object.assign(body, { from: $("g-from").value, to: $("g-to").value, category: $("g-category").value });
  } else body.date = $("g-date").value;
  $("error").textContent = "";
  $("g-submit").disabled = true;
  try {
    const made = await api("/api/reports", "POST", body);
    follow(made.id);
  } catch (err) {
    $("error").textContent = err.message;
    $("g-submit").disabled = false;
  }
}

// Poll one report until it is done or failed; the bar shows its progress.
function follow(id) {
  clearInterval(board.polling);
  $("g-progress-box").hidden = false;
  $("g-progress").value = 0;
  $("g-progress-box").dataset.report = id;
  $("g-progress-box").dataset.status = "queued";
  const tick = async () => {
    let r;
    try { r = await api(`/api/reports/${id}`); } catch (err) { $("error").textContent = err.message; return; }
    $("g-progress").value = r.progress;
    $("g-progress-box").dataset.status = r.status;
    $("g-status").textContent = r.status === "failed" ? t("failed") + (r.error || "")
      : `${r.status === "done" ? t("builtOk") : t("building")} ${r.progress}%`;
    if (r.status === "done" || r.status === "failed") {
      clearInterval(board.polling);
      $("g-submit").disabled = false;
      await refresh();
      if (r.status === "done") render(r);
    }
  };
  board.polling = setInterval(tick, 400);
  tick();
}

async function openReport(id) {
  try { render(await api(`/api/reports/${id}`)); } catch (err) { $("error").textContent = err.message; }
}

function chart(id, option) {
  const c = echarts.init($(id), null, { renderer: "svg" });
  c.setOption({ animation: false, textStyle: { fontFamily: "Noto Sans CJK SC, Microsoft YaHei, sans-serif" }, ...option });
  board.charts.push(c);
  return c;
}

function render(report) {
  const d = report.data;
  if (!d) return;
  board.current = report;
  for (const c of board.charts) c.dispose();
  board.charts = [];
  $("report").hidden = false;
  $("report").dataset.report = report.id;
  $("r-title").textContent = d.title;
  $("r-meta").textContent = `统计周期 ${d.period.first} 至 ${d.period.last}　上期 ${d.period.previous_first} 至 ${d.period.previous_last}　生成于 ${when(d.generated_at)}`;
  $("r-overview").textContent = `本期受理工单 ${d.totals.tickets} 件，上期 ${d.totals.previous} 件，环比 ${signed(d.totals.change)}。`;

  const volumeRows = (rows) => rows.map((v) => [v.name, v.count, v.previous, changeCell(v.change)]);
  table("r-channel", ["渠道", "本期", "上期", "环比"], volumeRows(d.by_channel), [1, 2, 3]);
  table("r-category", ["类别", "本期", "上期", "环比"], volumeRows(d.by_category), [1, 2, 3]);
  // A day's trend is by the hour; a longer period's by the day.
  const hourly = (d.hourly || []).length > 0;
  chart("chart-trend", {
    title: { text: hourly ? "分时受理量" : "每日受理量", left: "center", textStyle: { fontSize: 14 } },
    grid: { left: 40, right: 16, top: 40, bottom: 30 }, tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: hourly ? d.hourly.map((_, h) => `${h}时`) : d.daily.map((x) => x.day.slice(5)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "line", name: "受理量", data: hourly ? d.hourly : d.daily.map((x) => x.count),
      symbolSize: 6, areaStyle: { opacity: 0.15 } }],
  });
  chart("chart-channel", {
    title: { text: "受理渠道", left: "center", textStyle: { fontSize: 14 } }, tooltip: { trigger: "item" },
    legend: { bottom: 0 },
    series: [{ type: "pie", radius: ["35%", "62%"], label: { formatter: "{b}\n{c} 件（{d}%）" },
      data: d.by_channel.filter((v) => v.count > 0).map((v) => ({ name: v.name, value: v.count })) }],
  });
  const cats = d.by_category.slice(0, 15);
  chart("chart-category", {
    title: { text: "类别受理量（本期与上期）", left: "center", top: 0, textStyle: { fontSize: 14 } },
    legend: { top: 26, itemGap: 16 }, tooltip: { trigger: "axis" }, grid: { left: 40, right: 16, top: 64, bottom: 40 },
    xAxis: { type: "category", data: cats.map((v) => v.name), axisLabel: { interval: 0, rotate: cats.length > 8 ? 30 : 0 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: "本期", data: cats.map((v) => v.count), label: { show: true, position: "top" } },
      { type: "bar", name: "上期", data: cats.map((v) => v.previous) }],
  });

  table("r-kpis", ["指标", "本期", "上期", "目标", "分子/分母", "达标"], d.kpis.map((k) => {
    const met = k.meets_target === null ? "—" : k.meets_target ? "是" : "否";
    const mark = el("span", met, k.meets_target === false ? "miss" : undefined);
    return [k.name, kpiValue(k, k.value), kpiValue(k, k.previous), k.target === null ? "—" : kpiValue(k, k.target),
      `${k.numerator} / ${k.denominator}`, mark];
  }), [1, 2, 3, 4]);

  $("r-ranking-note").textContent = d.ranking_note;
  table("r-ranking", ["名次", "单位", "派单", "指定派发", "超期", "响应率", "按时办结率", "满意率", "解决率", "综合得分"],
    d.ranking.map((r) => [r.rank, r.name, r.dispatched, r.forced, r.overdue, pct(r.response_rate), pct(r.on_time_rate),
      pct(r.satisfaction_rate), pct(r.resolution_rate), r.score === null ? "—" : r.score.toFixed(2)]),
    [0, 2, 3, 4, 5, 6, 7, 8, 9]);
  const ranked = d.ranking.filter((r) => r.score !== null).slice(0, 15).reverse();
  chart("chart-ranking", {
    title: { text: "单位综合得分", left: "center", textStyle: { fontSize: 14 } }, tooltip: { trigger: "axis" },
    grid: { left: 200, right: 40, top: 36, bottom: 24 },
    xAxis: { type: "value", max: 100 }, yAxis: { type: "category", data: ranked.map((r) => r.name) },
    series: [{ type: "bar", name: "综合得分", data: ranked.map((r) => r.score), label: { show: true, position: "right" } }],
  });

  const spots = d.hotspots;
  $("r-candidate").textContent = spots.topic_candidate
    ? `每月一题候选：${spots.topic_candidate}（近7天上升最多的类别，自 ${spots.rising_from} 起）` : "近7天无上升类别。";
  table("r-addresses", ["地址", "件数"], spots.addresses.map((a) => [a.address, a.count]), [1]);
  table("r-streets", ["街道（乡镇）", "所属区县", "件数"], spots.streets.map((s) => [s.name, s.district, s.count]), [2]);
  table("r-rising", ["类别", "近7天", "前7天", "增加", "增幅"],
    spots.rising.map((r) => [r.category, r.this_week, r.last_week, `+${r.change}`, signed(r.ratio)]), [1, 2, 3, 4]);

  $("r-surges-note").textContent = d.surges_note;
  table("r-surges", ["时间", "类别", "件数", "预期", "说明"], d.surges.map((s) => [when(s.at), s.category, s.count, s.expected, s.note]), [2, 3]);
  $("r-surges").hidden = d.surges.length === 0;

  $("r-unsatisfied-note").textContent = `共 ${d.unsatisfied_total} 件` +
    (d.unsatisfied_total > d.unsatisfied.length ? `（列出前 ${d.unsatisfied.length} 件）` : "") + "。";
  table("r-unsatisfied", ["工单号", "类别", "承办单位", "地址", "诉求摘要", "状态", "回访时间", "服务评价", "办理结果评价"],
    d.unsatisfied.map((u) => [u.ticket_id, u.category, u.department, u.address, u.summary, STATE[u.state] ?? u.state,
      when(u.finished_at), RATING[u.service_rating] ?? "—", RATING[u.outcome_rating] ?? "—"]), [0]);
  $("r-unsatisfied").hidden = d.unsatisfied.length === 0;
  $("report").dataset.rendered = "yes";
  for (const tr of $("report-list").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.report) === report.id);
}

// The exports need the session's token: fetched, then saved from a blob URL.
async function download(ext) {
  const r = board.current;
  if (!r) return;
  try {
    const resp = await fetch(`/api/reports/${r.id}.${ext}`, { headers: { Authorization: `Bearer ${page.token}` } });
    if (!resp.ok) throw new Error(`${resp.status}`);
    const url = URL.createObjectURL(await resp.blob());
    const a = el("a");
    a.href = url; a.download = `${r.data.title}.${ext}`;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { $("error").textContent = err.message; }
}

$("g-kind").addEventListener("change", showKind);
$("generate-form").addEventListener("submit", generate);
$("refresh").addEventListener("click", refresh);
$("print").addEventListener("click", () => window.print());
$("download-xlsx").addEventListener("click", () => download("xlsx"));
$("download-csv").addEventListener("click", () => download("csv"));
window.addEventListener("resize", () => board.charts.forEach((c) => c.resize()));
window.addEventListener("beforeprint", () => board.charts.forEach((c) => c.resize()));
showKind();
setup({ text: TEXT, view: "reports-view", start, onSignedOut: () => clearInterval(board.polling) });
