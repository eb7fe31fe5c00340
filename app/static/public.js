// The citizen's pages (网上表单, 办件查询): no sign-in, they call /api/public/*. What the API
// returns is shown as text, never as HTML. zh-CN first; the English button switches every
// [data-i18n] text and the page's messages (the choice is kept for both pages).
"use strict";

const publicPages = (() => {
  const $ = (id) => document.getElementById(id);
  const TEXT = {
    zh: {
      formTitle: "12345 政务服务便民热线 · 网上诉求", formIntro: "无需注册。提交后请保存工单编号和查询码。",
      category: "诉求类别", choose: "请选择", description: "诉求内容", descriptionHint: "请写明时间、地点和具体问题",
      address: "事发地址", phone: "联系电话", files: "附件（可选）", filesHint: "照片或 PDF，最多 5 个，每个不超过 10 MB",
      consent: "同意工作人员电话联系我并进行满意度回访", confidential: "申请保密处理（保密件）",
      confidentialHint: "您的电话只向有权限的工作人员显示，承办单位看不到", submit: "提交诉求", done: "提交成功",
      doneIntro: "您的诉求已受理，请保存以下信息，用于办件查询：", ticketNumber: "工单编号", queryCode: "查询码",
      confidentialDone: "已按保密件受理。", codeOnce: "查询码只显示这一次，请截图或记下。", toTrack: "去查询办理进度",
      trackLink: "办件查询", trackTitle: "12345 政务服务便民热线 · 办件查询", trackIntro: "输入工单编号和查询码，查看办理进度。",
      search: "查询", ticket: "工单", categoryIs: "类别：", statusIs: "当前状态：", formLink: "我要提交诉求",
      pageForm: "12345 网上诉求", pageTrack: "12345 办件查询",
      tooLarge: "附件过大（每个不超过 10 MB，最多 5 个）", badType: "附件类型不支持，请上传 JPG、PNG 或 PDF",
      checkFields: "请检查填写的内容（类别、诉求内容、联系电话为必填）", failed: "提交失败，请稍后再试",
      network: "网络异常，请稍后再试", required: "请选择类别，并填写诉求内容和联系电话",
      trackRequired: "请输入工单编号和查询码",
    },
    en: {
      formTitle: "12345 Government Service Hotline · Online request", formIntro: "No account needed. Keep the ticket number and query code you get.",
      category: "Category", choose: "Choose", description: "Your request", descriptionHint: "When, where, and what the problem is",
      address: "Address", phone: "Phone", files: "Attachments (optional)", filesHint: "Photos or PDF, at most 5, 10 MB each",
      consent: "You may phone me and ask how it was handled", confidential: "Handle confidentially (保密件)",
      confidentialHint: "Your number is shown only to authorised staff, never to the handling department",
      submit: "Submit", done: "Submitted", doneIntro: "Your request was accepted. Keep these to look up its progress:",
      ticketNumber: "Ticket number", queryCode: "Query code", confidentialDone: "Accepted as confidential.",
      codeOnce: "The query code is shown only this once: take a screenshot or write it down.", toTrack: "Track its progress",
      trackLink: "Track a request", trackTitle: "12345 Government Service Hotline · Track a request",
      trackIntro: "Enter the ticket number and query code to see the progress.", search: "Look up", ticket: "Ticket",
      categoryIs: "Category: ", statusIs: "Status: ", formLink: "Submit a request",
      pageForm: "12345 Online request", pageTrack: "12345 Track a request",
      tooLarge: "An attachment is too large (10 MB each, at most 5)", badType: "Attachment type not supported: JPG, PNG or PDF",
      checkFields: "Please check the form (category, request and phone are required)", failed: "Not submitted, please try again later",
      network: "Network problem, please try again later", required: "Choose a category and fill in your request and phone",
      trackRequired: "Enter the ticket number and query code", notFound: "No such ticket: check the number and the query code",
      limited: "Too many attempts: please try again later", closed: "The online form is not open",
      steps: { registered: "Accepted", answered: "Answered directly", dispatched: "Sent to a department",
        accepted: "Signed for by the department, in progress", replied: "The department replied",
        callback: "Follow-up call", reopened: "Handled again", closed: "Closed", merged: "Merged into another ticket" },
    },
  };
  let lang = localStorage.getItem("public.lang") === "en" ? "en" : "zh";
  const t = (key) => TEXT[lang][key] ?? TEXT.zh[key] ?? key;
  const when = (iso) => new Date(iso).toLocaleString(lang === "en" ? "en" : "zh-CN", { hour12: false });
  // In English the track steps and status come from their keys (the API's labels are Chinese).
  const stepText = (key, label) => (lang === "en" && TEXT.en.steps[key]) || label;
  let rerender = () => {};

  function translate(titleKey) {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.title = t(titleKey);
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    $("lang").lang = lang === "zh" ? "en" : "zh-CN";
  }

  function languageToggle(titleKey) {
    $("lang").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      localStorage.setItem("public.lang", lang);
      translate(titleKey);
      rerender();
    });
    translate(titleKey);
  }

  // The API's refusal in words a citizen reads (429 and 404 come in Chinese already).
  function reason(status, data) {
    const detail = data && data.detail;
    if (status === 413) return t("tooLarge");
    if (status === 415) return t("badType");
    if (typeof detail === "string") {
      if (lang === "en") return t(status === 429 ? "limited" : status === 404 ? "notFound" : "failed");
      return detail;
    }
    if (status === 422) return t("checkFields");
    return t("failed");
  }

  async function send(path, init) {
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      return { ok: false, message: t("network") };
    }
    const data = await resp.json().catch(() => null);
    return resp.ok ? { ok: true, data } : { ok: false, message: reason(resp.status, data) };
  }

  function form() {
    languageToggle("pageForm");
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
        $("form-error").textContent = t("required");
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
      $("confidential-note").hidden = !$("confidential").checked;
      $("request-form").hidden = true;
      $("result").hidden = false;
      $("result").scrollIntoView();
    });
  }

  function track() {
    languageToggle("pageTrack");
    let shown = null;
    rerender = () => { if (shown) show(shown); };
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
        $("track-error").textContent = t("trackRequired");
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
      shown = out.data;
      show(shown);
      $("progress").hidden = false;
      $("progress").scrollIntoView();
    });
  }

  function show(p) {
    $("p-number").textContent = p.ticket_number;
    $("p-category").textContent = p.category || "—";
    $("p-status").textContent = stepText(p.status_step, p.status);
    const list = $("p-steps");
    list.replaceChildren();
    for (const step of p.steps) {
      const item = document.createElement("li");
      item.dataset.step = step.step;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = stepText(step.step, step.label);
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = when(step.at) + (step.department ? ` · ${step.department}` : "");
      item.append(label, meta);
      list.append(item);
    }
  }

  return { form, track };
})();
