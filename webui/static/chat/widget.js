/*
 * ccbox web chat widget. A site embeds it with one tag:
 *
 *   <script src="https://box.example.cn/chat/widget.js" data-ccbox-chat async></script>
 *
 * Optional attributes: data-lang="zh"|"en" (default: the browser's language).
 * The site's origin must be on the box's list of allowed origins (admin: web chat).
 *
 * The widget lives in a shadow root (the site's CSS does not reach it, ours does not leak
 * out). Every piece of text from the server or the visitor goes in with textContent: no
 * innerHTML anywhere. The visitor's token is kept in sessionStorage, so the chat survives
 * a move to another page of the same site (escorted browsing moves the visitor).
 *
 * Escorted browsing (cobrowse): when the stream carries an event whose type starts with
 * "cobrowse.", /chat/static/cobrowse.js is loaded once into the page and every such event
 * is handed to  window.ccboxCobrowse.handle(event, api)  where api is
 *   { token: string,            // the visitor's X-Chat-Token
 *     base: string,             // the box's origin, e.g. "https://box.example.cn"
 *     post(path, body) -> Promise<{ok: bool, status: int, data: object}> }
 *                               // POST JSON to base + path with the token
 * Events that arrive while the script loads are handed over, in order, once it is there.
 *
 * Browser tests drive the DOM through data-test attributes (inside the shadow root of
 * the element #ccbox-chat): open, close, form, name, phone, email, topic, start,
 * form-error, offline, leave-form, leave-text, leave-send, leave-done, chat, log,
 * message (data-sender, data-id, data-read), typing, input, send, attach, file-input,
 * transcript, end, status, notice, ended, new-chat, overflow-leave (shown when the engine
 * says everyone is busy), file (an attachment's download link), cobrowse-code-link (a
 * caller's code for escorted browsing: cobrowse.js's code form). A page whose escorted
 * browsing moved here (sessionStorage, or the #ccbox-cobrowse= fragment) loads cobrowse.js
 * at once and hands it {type: "cobrowse.resume"}.
 */
(function () {
  "use strict";
  if (window.ccboxChatLoaded) return;
  window.ccboxChatLoaded = true;

  var script =
    document.currentScript || document.querySelector("script[data-ccbox-chat]");
  if (!script || !script.src) return;
  var BASE = new URL(script.src, document.baseURI).origin;
  var STORE_KEY = "ccbox-chat:" + BASE;
  var TYPING_EVERY_MS = 3000;
  var TYPING_IDLE_MS = 4000;

  var STRINGS = {
    en: {
      open: "Chat with us",
      title: "Chat",
      close: "Close",
      name: "Your name",
      phone: "Phone",
      email: "E-mail",
      topic: "Topic",
      start: "Start chat",
      contactNeeded: "Give a phone number or an e-mail address.",
      emailInvalid: "This e-mail address cannot be used: write it in Latin letters, like name@example.com.",
      nameNeeded: "Give your name.",
      offline: "Nobody is available for this topic now. Leave a message and we will get back to you.",
      leaveText: "Your message",
      leaveSend: "Send message",
      leaveDone: "Thank you. Your message is number {n}; we will get back to you.",
      waiting: "Waiting for an agent...",
      position: "Waiting for an agent (you are number {n})...",
      active: "You are chatting with {name}.",
      anAgent: "an agent",
      haveCode: "I have a code from an agent",
      wrapUp: "The agent ended the chat.",
      transferred: "You are being transferred...",
      typing: "{name} is typing...",
      staffTyping: "The agent is typing...",
      input: "Write a message",
      send: "Send",
      attach: "Attach a file",
      transcript: "E-mail me the transcript",
      transcriptSent: "The transcript is sent to {email}.",
      end: "End chat",
      ended: "The chat has ended.",
      newChat: "New chat",
      read: "Read",
      you: "You",
      reconnecting: "Reconnecting...",
      fileTooBig: "The file is larger than {kb} KB.",
      tooFast: "You are sending too fast; wait a moment.",
      failed: "Something went wrong; try again.",
      origin: "The chat is not available on this site.",
      noTopics: "The chat is not available now.",
      overflow: "Everyone is busy. You can keep waiting or leave a message.",
      overflowLeave: "Leave a message instead",
      fileType: "This kind of file is not accepted: images, PDF and text only.",
      tooLarge: "The file or message is too large.",
      tooLong: "The message is too long.",
      busy: "Too many visitors now; try again later.",
      endedError: "This chat has ended.",
      noTranscript: "There is nothing to send yet: no agent has answered.",
      tooManyFiles: "This chat cannot take more files.",
      mailFailed: "The transcript could not be sent; try again later.",
    },
    zh: {
      open: "在线咨询",
      title: "在线咨询",
      close: "关闭",
      name: "您的姓名",
      phone: "电话",
      email: "电子邮箱",
      topic: "咨询类别",
      start: "开始咨询",
      contactNeeded: "请填写电话或电子邮箱。",
      emailInvalid: "无法使用此电子邮箱：请用英文字母填写，例如 name@example.com。",
      nameNeeded: "请填写您的姓名。",
      offline: "该类别目前无人值守。请留言,我们会尽快回复您。",
      leaveText: "留言内容",
      leaveSend: "提交留言",
      leaveDone: "谢谢。您的留言编号为 {n},我们会尽快回复您。",
      waiting: "正在等待客服...",
      position: "正在等待客服(您排在第 {n} 位)...",
      active: "{name} 正在为您服务。",
      anAgent: "客服",
      haveCode: "我有客服给的代码",
      wrapUp: "客服已结束会话。",
      transferred: "正在为您转接...",
      typing: "{name} 正在输入...",
      staffTyping: "客服正在输入...",
      input: "请输入消息",
      send: "发送",
      attach: "发送文件",
      transcript: "将聊天记录发送到我的邮箱",
      transcriptSent: "聊天记录已发送到 {email}。",
      end: "结束会话",
      ended: "会话已结束。",
      newChat: "新的咨询",
      read: "已读",
      you: "我",
      reconnecting: "正在重新连接...",
      fileTooBig: "文件超过 {kb} KB。",
      tooFast: "发送太快了,请稍候。",
      failed: "出错了,请重试。",
      origin: "本网站不能使用在线咨询。",
      noTopics: "在线咨询暂不可用。",
      overflow: "客服都在忙。您可以继续等待,也可以留言。",
      overflowLeave: "改为留言",
      fileType: "不接受这种文件:只能发送图片、PDF 和文本文件。",
      tooLarge: "文件或消息太大。",
      tooLong: "消息太长。",
      busy: "当前访客过多,请稍后再试。",
      endedError: "会话已结束。",
      noTranscript: "客服还没有回复,暂无记录可发送。",
      tooManyFiles: "本次会话不能再发送更多文件。",
      mailFailed: "聊天记录未能发送,请稍后再试。",
    },
  };

  function pickLang() {
    var want = script.getAttribute("data-lang") || navigator.language || "en";
    return want.toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  }
  var LANG = pickLang();
  function t(key, params) {
    var text = STRINGS[LANG][key] || STRINGS.en[key] || key;
    if (params) {
      Object.keys(params).forEach(function (k) {
        text = text.split("{" + k + "}").join(String(params[k]));
      });
    }
    return text;
  }

  // ---- DOM helpers (textContent only) ------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "test") node.setAttribute("data-test", attrs[k]);
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) {
      if (c) node.appendChild(c);
    });
    return node;
  }
  function show(node, on) {
    node.hidden = !on;
  }

  // ---- the session kept across pages -------------------------------------------------
  var state = { token: null, conversation: null, email: "", ended: false, lastRead: 0 };
  // state.contact: the pre-chat form as sent (a leave-a-message after an overflow, on
  // another page, needs it again)
  function save() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage refused (private mode): the chat still works on this page */
    }
  }
  function load() {
    try {
      var raw = sessionStorage.getItem(STORE_KEY);
      if (raw) {
        var s = JSON.parse(raw);
        if (s && typeof s.token === "string") state = s;
      }
    } catch (e) {
      /* nothing kept */
    }
  }
  function forget() {
    state = { token: null, conversation: null, email: "", ended: false, lastRead: 0 };
    try {
      sessionStorage.removeItem(STORE_KEY);
    } catch (e) {
      /* nothing kept */
    }
  }

  // ---- talking to the box -------------------------------------------------------------
  function request(method, path, body, headers) {
    var h = headers || {};
    if (state.token) h["X-Chat-Token"] = state.token;
    var opts = { method: method, headers: h, mode: "cors", credentials: "omit" };
    if (body !== undefined) opts.body = body;
    return fetch(BASE + path, opts).then(
      function (res) {
        return res
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            return { ok: res.ok, status: res.status, data: data || {} };
          });
      },
      function () {
        return { ok: false, status: 0, data: {} };
      }
    );
  }
  function post(path, body) {
    return request("POST", path, JSON.stringify(body || {}), {
      "Content-Type": "application/json",
    });
  }
  var ERROR_CODES = {
    rate_limited: "tooFast",
    origin: "origin",
    file_type: "fileType",
    too_large: "tooLarge",
    too_long: "tooLong",
    busy: "busy",
    ended: "endedError",
    no_transcript: "noTranscript",
    too_many_files: "tooManyFiles",
    mail_failed: "mailFailed",
    email: "emailInvalid",
  };
  function errorText(res) {
    var code = res.data && res.data.code;
    if (code && ERROR_CODES[code]) return t(ERROR_CODES[code]);
    if (res.status === 413) return t("tooLarge");
    if (code === "refused" && typeof res.data.error === "string") return res.data.error;
    if (LANG === "en" && res.data && typeof res.data.error === "string") return res.data.error;
    return t("failed");
  }

  // ---- the widget's DOM ---------------------------------------------------------------
  var host = el("div", { id: "ccbox-chat" });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/chat/static/widget.css" }));

  var openBtn = el("button", { type: "button", class: "open", test: "open", text: t("open") });
  var closeBtn = el("button", {
    type: "button",
    class: "close",
    test: "close",
    "aria-label": t("close"),
    text: "\u00d7",
  });
  var statusLine = el("div", { class: "status", test: "status", role: "status" });
  var notice = el("div", { class: "notice", test: "notice", role: "alert" });

  // pre-chat form
  var nameIn = el("input", { type: "text", test: "name", autocomplete: "name" });
  var phoneIn = el("input", { type: "tel", test: "phone", autocomplete: "tel" });
  var emailIn = el("input", { type: "email", test: "email", autocomplete: "email" });
  var topicSel = el("select", { test: "topic" });
  var startBtn = el("button", {
    type: "submit",
    class: "primary",
    test: "start",
    text: t("start"),
  });
  var formError = el("div", { class: "error", test: "form-error", role: "alert" });
  function field(label, input) {
    return el("label", {}, [el("span", { text: label }), input]);
  }
  var form = el("form", { class: "form", test: "form" }, [
    field(t("name"), nameIn),
    field(t("phone"), phoneIn),
    field(t("email"), emailIn),
    field(t("topic"), topicSel),
    formError,
    startBtn,
  ]);

  // leave a message
  var leaveText = el("textarea", { test: "leave-text", rows: "4" });
  var leaveBtn = el("button", {
    type: "submit",
    class: "primary",
    test: "leave-send",
    text: t("leaveSend"),
  });
  var leaveDone = el("div", { class: "done", test: "leave-done" });
  var leaveForm = el("form", { class: "leave", test: "leave-form" }, [
    el("p", { class: "offline", test: "offline", text: t("offline") }),
    field(t("leaveText"), leaveText),
    leaveBtn,
  ]);

  // the conversation
  var log = el("ol", { class: "log", test: "log", "aria-live": "polite" });
  var typingLine = el("div", { class: "typing", test: "typing" });
  var input = el("textarea", { test: "input", rows: "2", placeholder: t("input") });
  var sendBtn = el("button", { type: "submit", class: "primary", test: "send", text: t("send") });
  var fileIn = el("input", { type: "file", test: "file-input", hidden: "" });
  var attachBtn = el("button", {
    type: "button",
    test: "attach",
    title: t("attach"),
    "aria-label": t("attach"),
    text: "+",
  });
  var transcriptBtn = el("button", { type: "button", test: "transcript", text: t("transcript") });
  var endBtn = el("button", { type: "button", test: "end", text: t("end") });
  var newBtn = el("button", { type: "button", test: "new-chat", text: t("newChat") });
  var overflowBtn = el("button", {
    type: "button",
    test: "overflow-leave",
    text: t("overflowLeave"),
  });
  var endedLine = el("div", { class: "ended", test: "ended", text: t("ended") });
  var compose = el("form", { class: "compose" }, [input, attachBtn, fileIn, sendBtn]);
  var tools = el("div", { class: "tools" }, [overflowBtn, transcriptBtn, endBtn, newBtn]);
  var chat = el("div", { class: "chat", test: "chat" }, [
    log,
    typingLine,
    endedLine,
    compose,
    tools,
  ]);

  // a caller on the phone with an agent shares this page with the code the agent reads
  // (escorted browsing: cobrowse.js shows the code form)
  var codeBtn = el("button", {
    type: "button",
    class: "link",
    test: "cobrowse-code-link",
    text: t("haveCode"),
  });
  var panel = el("section", { class: "panel", role: "dialog", "aria-label": t("title") }, [
    el("header", {}, [el("h2", { text: t("title") }), closeBtn]),
    statusLine,
    notice,
    form,
    leaveForm,
    leaveDone,
    chat,
    codeBtn,
  ]);
  root.appendChild(openBtn);
  root.appendChild(panel);

  function view(name) {
    show(form, name === "form");
    show(leaveForm, name === "leave");
    show(leaveDone, name === "leave-done");
    show(chat, name === "chat");
  }
  function setNotice(text) {
    notice.textContent = text || "";
    show(notice, !!text);
  }
  function setOpen(on) {
    show(panel, on);
    show(openBtn, !on);
    if (on) markRead();
  }

  // ---- configuration and the pre-chat form ------------------------------------------
  var config = null;
  function loadConfig() {
    return request("GET", "/chat/api/config?lang=" + LANG).then(function (res) {
      if (!res.ok) {
        // A site not on the box's list (the browser then sees no answer at all) or a box
        // that is down: no chat button, unless a chat is going on.
        if (!state.token) host.style.display = "none";
        setNotice(res.status === 0 ? t("noTopics") : errorText(res));
        return;
      }
      host.style.display = "";
      config = res.data;
      while (topicSel.firstChild) topicSel.removeChild(topicSel.firstChild);
      (config.topics || []).forEach(function (topic) {
        var opt = el("option", { value: String(topic.id), text: topic.label });
        opt.setAttribute("data-on-duty", topic.on_duty ? "1" : "0");
        topicSel.appendChild(opt);
      });
      if (!(config.topics || []).length) setNotice(t("noTopics"));
      if (config.transcript === false) show(transcriptBtn, false);
      var lim = config.limits || {};
      if (lim.name_max) nameIn.maxLength = lim.name_max;
      if (lim.phone_max) phoneIn.maxLength = lim.phone_max;
      if (lim.email_max) emailIn.maxLength = lim.email_max;
      if (lim.max_message_chars) {
        input.maxLength = lim.max_message_chars;
        leaveText.maxLength = lim.max_message_chars;
      }
    });
  }
  function contact() {
    if (state.contact && !nameIn.value) return Object.assign({}, state.contact);
    var topic = parseInt(topicSel.value, 10);
    if (isNaN(topic) && state.contact) topic = state.contact.topic_id;
    return {
      topic_id: topic,
      name: nameIn.value.trim(),
      phone: phoneIn.value.trim(),
      email: emailIn.value.trim(),
      language: LANG,
    };
  }
  function selectedOnDuty() {
    var opt = topicSel.options[topicSel.selectedIndex];
    return !opt || opt.getAttribute("data-on-duty") === "1";
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var c = contact();
    formError.textContent = "";
    if (!c.name) return void (formError.textContent = t("nameNeeded"));
    if (!c.phone && !c.email) return void (formError.textContent = t("contactNeeded"));
    if (!selectedOnDuty()) return view("leave");
    startBtn.disabled = true;
    post("/chat/api/start", c).then(function (res) {
      startBtn.disabled = false;
      if (res.status === 409) return view("leave");
      if (!res.ok) return void (formError.textContent = errorText(res));
      state = {
        token: res.data.token,
        conversation: res.data.conversation,
        email: c.email,
        ended: false,
        lastRead: 0,
        contact: c,
      };
      save();
      enterChat();
    });
  });
  leaveForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var c = contact();
    c.text = leaveText.value.trim();
    if (!c.text) return;
    leaveBtn.disabled = true;
    post("/chat/api/leave-message", c).then(function (res) {
      leaveBtn.disabled = false;
      if (!res.ok) return setNotice(errorText(res));
      setNotice("");
      leaveDone.textContent = t("leaveDone", { n: res.data.number || res.data.ticket });
      view("leave-done");
    });
  });

  // ---- the conversation --------------------------------------------------------------
  var shown = {}; // message id -> its <li>
  var ownIds = [];
  var lastStaffId = 0;
  var source = null;
  var retryTimer = null;
  var RETRY_MIN_MS = 3000; // a refused stream is tried again after 3 s, 6 s, ... 1 min
  var RETRY_MAX_MS = 60000;
  var retryDelay = RETRY_MIN_MS;

  function formatSize(n) {
    return n >= 1024 * 1024
      ? (n / 1024 / 1024).toFixed(1) + " MB"
      : Math.max(1, Math.round(n / 1024)) + " KB";
  }
  function fileLink(att) {
    var a = el("a", {
      href: "#",
      class: "file",
      test: "file",
      text: att.file_name + " (" + formatSize(att.size) + ")",
    });
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var h = { "X-Chat-Token": state.token };
      fetch(BASE + "/chat/api/file/" + encodeURIComponent(att.id), {
        headers: h,
        mode: "cors",
        credentials: "omit",
      })
        .then(function (res) {
          if (!res.ok) throw new Error(String(res.status));
          return res.blob();
        })
        .then(function (blob) {
          var url = URL.createObjectURL(blob);
          var save = el("a", { href: url, download: att.file_name });
          root.appendChild(save);
          save.click();
          root.removeChild(save);
          setTimeout(function () {
            URL.revokeObjectURL(url);
          }, 10000);
        })
        .catch(function () {
          setNotice(t("failed"));
        });
    });
    return a;
  }

  function addMessage(m) {
    if (!m || typeof m.id !== "number" || shown[m.id] || m.internal) return;
    var mine = m.sender === "customer";
    var li = el("li", { class: "msg " + (mine ? "mine" : m.sender), test: "message" });
    li.setAttribute("data-sender", String(m.sender));
    li.setAttribute("data-id", String(m.id));
    var who = mine ? t("you") : m.author || "";
    li.appendChild(el("span", { class: "who", text: who }));
    if (m.body) li.appendChild(el("p", { class: "body", text: m.body }));
    (m.attachments || []).forEach(function (att) {
      li.appendChild(fileLink(att));
    });
    if (mine) {
      // read_at: the agent read it before this page's stream (a reconnect's history)
      var mark = el("span", {
        class: "read",
        test: "read-mark",
        text: m.read_at ? t("read") : "",
      });
      if (m.read_at) li.setAttribute("data-read", "1");
      li.appendChild(mark);
      ownIds.push(m.id);
    } else if (m.id > lastStaffId) {
      lastStaffId = m.id;
    }
    shown[m.id] = li;
    // keep the log in id order (history and live events may cross)
    var next = null;
    Object.keys(shown).forEach(function (k) {
      var id = parseInt(k, 10);
      if (id > m.id && (next === null || id < next)) next = id;
    });
    log.insertBefore(li, next === null ? null : shown[next]);
    log.scrollTop = log.scrollHeight;
    markRead();
  }
  function markOwnRead(upTo) {
    ownIds.forEach(function (id) {
      if (id <= upTo && shown[id]) {
        shown[id].setAttribute("data-read", "1");
        var mark = shown[id].querySelector(".read");
        if (mark) mark.textContent = t("read");
      }
    });
  }
  var readPending = false;
  function markRead() {
    if (!state.token || state.ended || panel.hidden || document.hidden) return;
    if (lastStaffId <= state.lastRead || readPending) return;
    var upTo = lastStaffId;
    readPending = true;
    post("/chat/api/read", { up_to: upTo }).then(function (res) {
      readPending = false;
      if (res.ok) {
        state.lastRead = upTo;
        save();
      }
    });
  }
  document.addEventListener("visibilitychange", markRead);

  var agentName = "";
  function setState(ev) {
    if (ev.state === "waiting" || ev.state === "offered") {
      statusLine.textContent =
        typeof ev.position === "number" && ev.position > 0
          ? t("position", { n: ev.position })
          : t("waiting");
    } else if (ev.state === "active") {
      agentName = (ev.agent && ev.agent.name) || agentName;
      statusLine.textContent = t("active", { name: agentName || t("anAgent") });
    } else if (ev.state === "wrap_up" || ev.state === "ended") {
      statusLine.textContent = t("wrapUp");
    }
  }
  var typingTimer = null;
  function showTyping(ev) {
    if (ev.side !== "staff") return;
    typingLine.textContent = ev.typing ? t("staffTyping") : "";
    clearTimeout(typingTimer);
    if (ev.typing) {
      typingTimer = setTimeout(function () {
        typingLine.textContent = "";
      }, 10000);
    }
  }
  function chatEnded() {
    show(overflowBtn, false);
    state.ended = true;
    save();
    closeStream();
    statusLine.textContent = t("ended");
    typingLine.textContent = "";
    show(endedLine, true);
    show(compose, false);
    show(endBtn, false);
    show(newBtn, true);
  }

  // escorted browsing: cobrowse.js, loaded once
  var cobrowse = { loading: false, queue: [] };
  var cobrowseApi = {
    get token() {
      return state.token;
    },
    base: BASE,
    post: post,
  };
  function handOver() {
    var c = window.ccboxCobrowse;
    if (!c || typeof c.handle !== "function") return;
    var q = cobrowse.queue;
    cobrowse.queue = [];
    q.forEach(function (ev) {
      try {
        c.handle(ev, cobrowseApi);
      } catch (e) {
        /* the cobrowse script's trouble stays its own */
      }
    });
  }
  function onCobrowse(ev) {
    cobrowse.queue.push(ev);
    if (window.ccboxCobrowse) return handOver();
    if (cobrowse.loading) return;
    cobrowse.loading = true;
    var s = document.createElement("script");
    s.src = BASE + "/chat/static/cobrowse.js";
    s.async = true;
    s.onload = handOver;
    document.head.appendChild(s);
  }

  function onEvent(ev) {
    if (!ev || typeof ev.type !== "string") return;
    if (ev.type.indexOf("cobrowse.") === 0) return onCobrowse(ev);
    switch (ev.type) {
      case "history":
        (ev.messages || []).forEach(function (m) {
          addMessage(m);
          if (m.sender === "agent" && m.author) agentName = m.author;
        });
        break;
      case "message":
        addMessage(ev.message);
        if (ev.message && ev.message.sender === "agent") {
          typingLine.textContent = "";
          if (ev.message.author && ev.message.author !== agentName) {
            agentName = ev.message.author;
            statusLine.textContent = t("active", { name: agentName });
          }
        }
        break;
      case "typing":
        showTyping(ev);
        break;
      case "read":
        if (ev.side === "staff") markOwnRead(ev.up_to);
        break;
      case "state":
        setState(ev);
        break;
      case "transferred":
        statusLine.textContent = t("transferred");
        break;
      case "ended":
        chatEnded();
        break;
      case "overflow":
        setNotice(t("overflow"));
        show(overflowBtn, !state.ended);
        break;
    }
  }
  function closeStream() {
    if (source) source.close();
    source = null;
    clearTimeout(retryTimer);
  }
  function openStream() {
    closeStream();
    if (!state.token || state.ended) return;
    source = new EventSource(BASE + "/chat/api/stream?t=" + encodeURIComponent(state.token));
    source.onopen = function () {
      setNotice("");
      retryDelay = RETRY_MIN_MS;
    };
    source.onmessage = function (msg) {
      var ev;
      try {
        ev = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      onEvent(ev);
    };
    source.onerror = function () {
      if (!source || source.readyState !== EventSource.CLOSED) {
        setNotice(t("reconnecting"));
        return; // the browser retries by itself
      }
      // refused (ended, unknown token, busy): ask what it is (a ping that reaches no
      // desk), then retry after a growing wait, or stop
      request("GET", "/chat/api/ping").then(function (res) {
        if (res.status === 401 || res.status === 410) {
          chatEnded();
          if (res.status === 401) statusLine.textContent = t("ended");
        } else {
          setNotice(t("reconnecting"));
          retryTimer = setTimeout(openStream, retryDelay);
          retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
        }
      });
    };
  }
  function enterChat() {
    view("chat");
    show(endedLine, !!state.ended);
    show(compose, !state.ended);
    show(endBtn, !state.ended);
    show(newBtn, !!state.ended);
    show(transcriptBtn, !!state.email && !(config && config.transcript === false));
    if (!state.ended) {
      statusLine.textContent = t("waiting");
      openStream();
    }
  }

  // typing: "true" at most every TYPING_EVERY_MS, "false" after TYPING_IDLE_MS quiet
  var typingSentAt = 0;
  var typingIdle = null;
  input.addEventListener("input", function () {
    if (!state.token || state.ended) return;
    var now = Date.now();
    if (now - typingSentAt > TYPING_EVERY_MS) {
      typingSentAt = now;
      post("/chat/api/typing", { typing: true });
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(function () {
      typingSentAt = 0;
      post("/chat/api/typing", { typing: false });
    }, TYPING_IDLE_MS);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      compose.requestSubmit ? compose.requestSubmit() : sendText();
    }
  });
  function sendText(attachmentIds) {
    var text = input.value.trim();
    if (!text && !(attachmentIds && attachmentIds.length)) return;
    sendBtn.disabled = true;
    post("/chat/api/send", { text: text, attachments: attachmentIds || [] }).then(function (res) {
      sendBtn.disabled = false;
      if (!res.ok) {
        if (res.status === 410) chatEnded();
        return setNotice(errorText(res));
      }
      setNotice("");
      if (text) input.value = "";
      clearTimeout(typingIdle);
      typingSentAt = 0;
      addMessage(res.data.message);
    });
  }
  compose.addEventListener("submit", function (ev) {
    ev.preventDefault();
    sendText();
  });
  attachBtn.addEventListener("click", function () {
    fileIn.click();
  });
  fileIn.addEventListener("change", function () {
    var file = fileIn.files && fileIn.files[0];
    fileIn.value = "";
    if (!file) return;
    var kb = (config && config.limits && config.limits.max_attachment_kb) || 5120;
    if (file.size > kb * 1024) return setNotice(t("fileTooBig", { kb: kb }));
    attachBtn.disabled = true;
    request("POST", "/chat/api/attach?name=" + encodeURIComponent(file.name), file, {
      "Content-Type": "application/octet-stream",
    }).then(function (res) {
      attachBtn.disabled = false;
      if (!res.ok) return setNotice(errorText(res));
      sendText([res.data.id]);
    });
  });
  transcriptBtn.addEventListener("click", function () {
    transcriptBtn.disabled = true;
    post("/chat/api/transcript", {}).then(function (res) {
      if (!res.ok) {
        transcriptBtn.disabled = false;
        return setNotice(errorText(res));
      }
      setNotice(t("transcriptSent", { email: res.data.sent_to || state.email }));
    });
  });
  endBtn.addEventListener("click", function () {
    post("/chat/api/end", {}).then(function () {
      chatEnded();
    });
  });
  overflowBtn.addEventListener("click", function () {
    var c = state.contact;
    post("/chat/api/end", {}).then(function () {
      chatEnded();
      closeStream();
      forget();
      if (c) {
        state.contact = c;
        nameIn.value = c.name || "";
        phoneIn.value = c.phone || "";
        emailIn.value = c.email || "";
        topicSel.value = String(c.topic_id);
      }
      setNotice("");
      view("leave");
    });
  });
  newBtn.addEventListener("click", function () {
    closeStream();
    forget();
    while (log.firstChild) log.removeChild(log.firstChild);
    shown = {};
    ownIds = [];
    lastStaffId = 0;
    statusLine.textContent = "";
    setNotice("");
    show(transcriptBtn, !(config && config.transcript === false));
    transcriptBtn.disabled = false;
    view("form");
    loadConfig();
  });
  openBtn.addEventListener("click", function () {
    setOpen(true);
  });
  closeBtn.addEventListener("click", function () {
    setOpen(false);
  });
  codeBtn.addEventListener("click", function () {
    onCobrowse({ type: "cobrowse.code_entry" });
  });

  // ---- start ------------------------------------------------------------------------
  function mount() {
    document.body.appendChild(host);
    show(notice, false);
    show(leaveDone, false);
    show(overflowBtn, false);
    load();
    if (state.token) {
      setOpen(true);
      enterChat();
      if (state.ended) chatEnded();
    } else {
      setOpen(false);
      view("form");
    }
    loadConfig();
    // escorted browsing that moved to this page (a page the agent pushed) goes on
    try {
      var moved = location.hash.indexOf("ccbox-cobrowse=") >= 0;
      if (moved || sessionStorage.getItem("ccbox-cobrowse:" + BASE)) {
        onCobrowse({ type: "cobrowse.resume" });
      }
    } catch (e) {
      /* no storage: nothing to resume */
    }
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
