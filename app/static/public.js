// The citizen's pages (网上表单, 办件查询): no sign-in, they call /api/public/*. What the API
// returns is shown as text, never as HTML.
"use strict";

const publicPages = (() => {
  const $ = (id) => document.getElementById(id);
  const when = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });

  // The API's refusal in words a citizen reads (429 and 404 come in Chinese already).
  function reason(status, data) {
    const detail = data && data.detail;
    if (typeof detail === "string") {
      if (status === 413) return "附件过大（每个不超过 10 MB，最多 5 个）";
      if (status === 415) return "附件类型不支持，请上传 JPG、PNG 或 PDF";
      return detail;
    }
    if (status === 422) return "请检查填写的内容（类别、诉求内容、联系电话为必填）";
    return "提交失败，请稍后再试";
  }

  async function send(path, init) {
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      return { ok: false, message: "网络异常，请稍后再试" };
    }
    const data = await resp.json().catch(() => null);
    return resp.ok ? { ok: true, data } : { ok: false, message: reason(resp.status, data) };
  }

  function form() {
    const requestId = crypto.randomUUID ? crypto.randomUUID() : null;
    fetch("/api/public/categories").then((r) => r.json()).then((categories) => {
      for (const c of categories) {
        const option = document.createElement("option");
        option.value = c;
        option.textContent = c;
        $("category").append(option);
      }
    });
    $("request-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("form-error").textContent = "";
      if (!$("category").value || !$("description").value.trim() || !$("phone").value.trim()) {
        $("form-error").textContent = "请选择类别，并填写诉求内容和联系电话";
        return;
      }
      const body = new FormData($("request-form"));
      if (!$("files").files.length) body.delete("files");
      if (requestId) body.set("request_id", requestId);
      $("submit").disabled = true;
      const out = await send("/api/public/requests", { method: "POST", body });
      $("submit").disabled = false;
      if (!out.ok) {
        $("form-error").textContent = out.message;
        return;
      }
      $("ticket-number").textContent = out.data.ticket_number;
      $("query-code").textContent = out.data.query_code;
      $("request-form").hidden = true;
      $("result").hidden = false;
      $("result").scrollIntoView();
    });
  }

  function track() {
    const params = new URLSearchParams(location.search);
    if (params.get("n")) $("ticket-number").value = params.get("n");
    $("track-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("track-error").textContent = "";
      $("progress").hidden = true;
      const body = {
        ticket_number: $("ticket-number").value.trim(),
        query_code: $("query-code").value.trim(),
      };
      if (!body.ticket_number || !body.query_code) {
        $("track-error").textContent = "请输入工单编号和查询码";
        return;
      }
      $("track").disabled = true;
      const out = await send("/api/public/track", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      $("track").disabled = false;
      if (!out.ok) {
        $("track-error").textContent = out.message;
        return;
      }
      const p = out.data;
      $("p-number").textContent = p.ticket_number;
      $("p-category").textContent = p.category || "—";
      $("p-status").textContent = p.status;
      const list = $("p-steps");
      list.replaceChildren();
      for (const step of p.steps) {
        const item = document.createElement("li");
        item.dataset.step = step.step;
        const label = document.createElement("span");
        label.className = "label";
        label.textContent = step.label;
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = when(step.at) + (step.department ? ` · ${step.department}` : "");
        item.append(label, meta);
        list.append(item);
      }
      $("progress").hidden = false;
      $("progress").scrollIntoView();
    });
  }

  return { form, track };
})();
