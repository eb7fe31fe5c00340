// Shared by the desk and the dispatch page: a ticket's likely duplicates (疑似重复, from
// GET /api/tickets/{id}/duplicates) with a 并单 button each (POST …/merge naming the master).
// Needs common.js (page, api, el).
"use strict";

const DUP_TEXT = {
  zh: { dupTitle: "疑似重复工单", merge: "并单", mergeTitle: "将本工单并入", mergedInto: "已并入工单", score: "相似度",
    reasons: { same_caller: "同一来电人", same_place: "同一地点同类诉求", similar_text: "诉求内容相似" } },
  en: { dupTitle: "Possible duplicates", merge: "Merge", mergeTitle: "Merge this ticket into", mergedInto: "Merged into ticket", score: "Score",
    reasons: { same_caller: "Same caller", same_place: "Same place and category", similar_text: "Similar request" } },
};
const dupT = (key) => DUP_TEXT[page.lang][key];

async function fetchDuplicates(ticketId) {
  try { return await api(`/api/tickets/${ticketId}/duplicates`); } catch (_) { return []; }
}

// The list inside ``container`` (hidden when empty); ``onMerged(out)`` after a merge.
function renderDuplicates(container, ticketId, rows, onMerged) {
  container.replaceChildren();
  container.hidden = rows.length === 0;
  if (!rows.length) return;
  const status = el("p", "", "error");
  status.setAttribute("role", "alert");
  const list = el("ul", undefined, "duplicates");
  for (const r of rows) {
    const li = el("li", undefined, "duplicate");
    li.dataset.ticket = r.ticket_id;
    li.append(el("strong", `#${r.ticket_id}`), " ", el("span", `${r.category || "—"} · ${r.summary || ""}`), " ");
    if (r.address) li.append(el("span", r.address, "muted"), " ");
    for (const reason of r.reasons) li.append(el("span", dupT("reasons")[reason] || reason, "badge"));
    li.append(el("span", `${dupT("score")} ${Math.round(r.score * 100)}%`, "muted"), " ");
    const b = el("button", dupT("merge"));
    b.type = "button"; b.dataset.action = "merge"; b.title = `${dupT("mergeTitle")} #${r.ticket_id}`;
    b.addEventListener("click", async () => {
      b.disabled = true; status.textContent = "";
      try {
        onMerged(await api(`/api/tickets/${ticketId}/merge`, "POST", { master_id: r.ticket_id }));
      } catch (err) { status.textContent = err.message; b.disabled = false; }
    });
    li.append(b);
    list.append(li);
  }
  container.append(el("h3", dupT("dupTitle")), list, status);
}
