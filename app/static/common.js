// Shared by the signed-in pages (desk, portal, dispatch): the session's bearer token, the API
// call, the language toggle (zh-CN first, English second) and the sign-in form. No framework;
// each page defines its TEXT and calls page.setup().
"use strict";

const $ = (id) => document.getElementById(id);

const COMMON_TEXT = {
  zh: { offline: "未连接", online: "已连接", signIn: "登录", signOut: "退出登录", username: "用户名",
    password: "密码", refresh: "刷新", kbPage: "知识库", updated: "更新于", notAllowed: "此账号无权使用本页面" },
  en: { offline: "offline", online: "online", signIn: "Sign in", signOut: "Sign out", username: "Username",
    password: "Password", refresh: "Refresh", kbPage: "Knowledge base", updated: "Updated", notAllowed: "This account may not use this page" },
};

const page = {
  // One session for all pages of a tab, one language choice for all pages.
  lang: localStorage.getItem("desk.lang") || "zh",
  token: sessionStorage.getItem("desk.token"),
  text: COMMON_TEXT,
  view: null, // the id of the signed-in view
  onSignedOut: null,
};

const t = (key) => page.text[page.lang][key] ?? key;
const locale = () => (page.lang === "zh" ? "zh-CN" : "en");
const when = (iso) => (iso ? new Date(iso).toLocaleString(locale()) : "—");

function fmt(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const mm = String(Math.floor(s / 60)).padStart(2, "0");
  return `${mm}:${String(s % 60).padStart(2, "0")}`;
}

// An element with text (never HTML: what citizens and departments write is shown as text).
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// JSON in and out; a FormData body goes as multipart (file uploads). 401 signs the page out.
async function api(path, method = "GET", body) {
  const form = body instanceof FormData;
  const headers = page.token ? { Authorization: `Bearer ${page.token}` } : {};
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : form ? body : JSON.stringify(body),
  });
  if (resp.status === 401 && path !== "/api/login") { signedOut(); throw new ApiError(401, "401"); }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const detail = data && data.detail;
    throw new ApiError(resp.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return data;
}

function translate() {
  document.documentElement.lang = locale();
  document.title = t("title");
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  $("lang").textContent = page.lang === "zh" ? "English" : "中文";
}

// The sign-in form, the same on every page (ids: username, password, login-button).
const LOGIN_FORM = `
  <form id="login-form" autocomplete="on">
    <h2 data-i18n="signIn">登录</h2>
    <label><span data-i18n="username">用户名</span> <input id="username" name="username" required autocomplete="username"></label>
    <label><span data-i18n="password">密码</span> <input id="password" name="password" type="password" required autocomplete="current-password"></label>
    <button id="login-button" type="submit" data-i18n="signIn">登录</button>
    <p id="login-error" class="error" role="alert"></p>
  </form>`;

function signedOut() {
  page.token = null;
  sessionStorage.removeItem("desk.token");
  $("login-view").hidden = false; $(page.view).hidden = true; $("signout").hidden = true;
  $("who").textContent = "";
  if (page.onSignedOut) page.onSignedOut();
}

// The page's texts merged over the common ones; the sign-in form, sign-out button and the
// language toggle wired; a stored session resumed. ``start(user)`` runs once signed in.
function setup({ text, view, start, onLanguage, onSignedOut }) {
  page.text = { zh: { ...COMMON_TEXT.zh, ...text.zh }, en: { ...COMMON_TEXT.en, ...text.en } };
  page.view = view;
  page.onSignedOut = onSignedOut || null;
  $("login-view").innerHTML = LOGIN_FORM;
  const started = async (user) => {
    $("who").textContent = user.username;
    $("login-view").hidden = true; $(view).hidden = false; $("signout").hidden = false;
    await start(user);
  };
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      const out = await api("/api/login", "POST", { username: $("username").value, password: $("password").value });
      page.token = out.token;
      sessionStorage.setItem("desk.token", out.token);
      await started(out.user);
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
  $("signout").addEventListener("click", async () => {
    try { await api("/api/logout", "POST"); } catch (_) { /* signed out either way */ }
    signedOut();
  });
  $("lang").addEventListener("click", () => {
    page.lang = page.lang === "zh" ? "en" : "zh";
    localStorage.setItem("desk.lang", page.lang);
    translate();
    if (onLanguage) onLanguage();
  });
  translate();
  if (onLanguage) onLanguage();
  if (page.token) api("/api/me").then(started).catch(() => signedOut());
}
