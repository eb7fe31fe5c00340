// The knowledge-base page (知识库): admins manage every article, department users their own
// departments' (the API refuses the rest). Each save is a new version; every version stays
// readable. The list shows how often agents answered with each article (答复并办结).
"use strict";

const TEXT = {
  zh: {
    title: "12345 热线知识库", articles: "知识库文章", newArticle: "新建文章", search: "检索",
    currentOnly: "仅显示现行有效", question: "问题", answer: "答复口径", category: "类别",
    department: "所属单位", validity: "有效期", version: "版本", uses: "引用次数", empty: "暂无文章",
    edit: "编辑", validFrom: "生效时间", validTo: "失效时间（可不填）", save: "保存为新版本", close: "关闭",
    history: "版本历史", creating: "新建文章", editing: "编辑文章", saved: "已保存，版本", open: "长期",
    by: "编辑人", expired: "已失效", pending: "未生效",
  },
  en: {
    title: "12345 Hotline Knowledge Base", articles: "Articles", newArticle: "New article", search: "Search",
    currentOnly: "Valid now only", question: "Question", answer: "Answer", category: "Category",
    department: "Department", validity: "Valid", version: "Version", uses: "Used", empty: "No articles",
    edit: "Edit", validFrom: "Valid from", validTo: "Valid to (optional)", save: "Save as new version", close: "Close",
    history: "Versions", creating: "New article", editing: "Edit article", saved: "Saved, version", open: "open-ended",
    by: "by", expired: "expired", pending: "not yet valid",
  },
};

const kb = { user: null, editing: null, departments: [], timer: null };

async function start(user) {
  kb.user = user;
  const editor = ["admin", "department"].includes(user.role);
  $("new").hidden = !editor;
  try {
    const all = await api("/api/departments");
    kb.departments = all.filter((d) => d.active !== false);
  } catch (err) { $("error").textContent = err.message; }
  await refresh();
}

function localInput(iso) {  // an ISO time → the datetime-local field (the browser's zone)
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function window_(a) {
  const now = Date.now();
  const state = new Date(a.valid_from) > now ? ` (${t("pending")})` : a.valid_to && new Date(a.valid_to) <= now ? ` (${t("expired")})` : "";
  return `${when(a.valid_from)} – ${a.valid_to ? when(a.valid_to) : t("open")}${state}`;
}

async function refresh() {
  $("error").textContent = "";
  const q = $("q").value.trim();
  let rows;
  try {
    rows = q
      ? await api(`/api/kb/search?limit=20&include_expired=${!$("current").checked}&q=${encodeURIComponent(q)}`)
      : await api(`/api/kb/articles?limit=200&current=${$("current").checked}`);
  } catch (err) { $("error").textContent = err.message; return; }
  $("empty").hidden = rows.length > 0;
  $("articles").tBodies[0].replaceChildren(...rows.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.article = a.id;
    for (const v of [a.id, a.question, a.category || "", a.department, window_(a), a.version, a.use_count]) tr.appendChild(el("td", v));
    const b = tr.appendChild(document.createElement("td")).appendChild(el("button", t("edit")));
    b.type = "button"; b.className = "edit";
    b.addEventListener("click", () => openArticle(a.id));
    return tr;
  }));
}

function fillDepartments(selected) {
  const own = kb.user.role === "department" ? kb.departments.filter((d) => d.code === kb.user.department || d.code.startsWith(`${kb.user.department}.`)) : kb.departments;
  $("f-department").replaceChildren(...own.map((d) => new Option(`${d.name} (${d.code})`, d.code)));
  if (selected) $("f-department").value = selected;
}

async function openArticle(id) {
  $("status").textContent = "";
  let a = null;
  if (id) { try { a = await api(`/api/kb/articles/${id}`); } catch (err) { $("error").textContent = err.message; return; } }
  kb.editing = a;
  $("editor").hidden = false;
  $("editor-title").textContent = a ? `${t("editing")} #${a.id}` : t("creating");
  fillDepartments(a && a.department);
  $("f-question").value = a ? a.question : ""; $("f-answer").value = a ? a.answer : "";
  $("f-category").value = a ? a.category || "" : "";
  $("f-from").value = a ? localInput(a.valid_from) : ""; $("f-to").value = a ? localInput(a.valid_to) : "";
  const editor = ["admin", "department"].includes(kb.user.role);
  for (const e of $("article-form").elements) if (e.id !== "close") e.disabled = !editor;
  $("versions").replaceChildren(...(a ? a.versions : []).slice().reverse().map((v) => {
    const li = el("li");
    li.appendChild(el("time", when(v.edited_at)));
    li.appendChild(el("strong", `${t("version")} ${v.version}`));
    li.appendChild(el("span", `${t("by")} ${v.edited_by}: ${v.question} — ${v.answer}`));
    return li;
  }));
  $("f-question").focus();
}

$("article-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("error").textContent = "";
  const iso = (v) => (v ? new Date(v).toISOString() : null);
  const body = {
    question: $("f-question").value, answer: $("f-answer").value, category: $("f-category").value.trim() || null,
    department: $("f-department").value, valid_from: iso($("f-from").value), valid_to: iso($("f-to").value),
  };
  try {
    const a = kb.editing
      ? await api(`/api/kb/articles/${kb.editing.id}`, "PUT", body)
      : await api("/api/kb/articles", "POST", body);
    await openArticle(a.id); // clears the status line, so the confirmation comes after
    await refresh();
    $("status").textContent = `${t("saved")} ${a.version}`;
  } catch (err) { $("error").textContent = err.message; }
});
$("new").addEventListener("click", () => openArticle(null));
$("close").addEventListener("click", () => { $("editor").hidden = true; kb.editing = null; });
$("refresh").addEventListener("click", refresh);
$("current").addEventListener("change", refresh);
$("q").addEventListener("input", () => { clearTimeout(kb.timer); kb.timer = setTimeout(refresh, 300); });

setup({ text: TEXT, view: "kb-view", start });
