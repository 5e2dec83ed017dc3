// ccboxPage: the few helpers every page script of the admin site builds its DOM and reads
// the box's JSON answers with (base.html loads this file on every page, before the page's
// own scripts).
//
//   ccboxPage.el(tag, text, cls)   // an element; text goes in with textContent, never HTML
//   ccboxPage.fmt(template, values) // "{name}" replaced by values.name (as text)
//   ccboxPage.json(response)       // fetch's response -> its JSON (a Promise); an answer
//                                   // that is not 2xx rejects with Error(data.error or the
//                                   // status), its .status the HTTP status
//   ccboxPage.result(fetch(...))   // -> Promise of {ok, status, data}, never rejected (no
//                                   // answer at all: status 0)
(function (global) {
  "use strict";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : m;
    });
  }

  function json(r) {
    return r.json().catch(function () { return {}; }).then(function (data) {
      if (!r.ok) {
        var err = new Error(data.error || String(r.status));
        err.status = r.status;
        throw err;
      }
      return data;
    });
  }

  function result(request) {
    return request.then(
      function (r) {
        return r
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            return { ok: r.ok, status: r.status, data: data || {} };
          });
      },
      function () {
        return { ok: false, status: 0, data: {} };
      }
    );
  }

  global.ccboxPage = { el: el, fmt: fmt, json: json, result: result };
})(window);
