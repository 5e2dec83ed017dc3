// The article editor: Quill (from npm, /vendor/quill.js) over the form's HTML textarea.
// Without Quill the textarea stays and takes HTML as it is; either way the server cleans
// what it receives (appliance/rich_text.py). Images go up to /kb/upload first and only
// their URL on the box goes into the text (the server keeps no other image source).
"use strict";
(function () {
  var form = document.getElementById("kb-form");
  var host = document.getElementById("kb-editor");
  var html = document.getElementById("kb-html");
  if (!form || !host || !html || typeof window.Quill !== "function") {
    return;
  }
  var quill = new window.Quill(host, {
    theme: "snow",
    modules: {
      toolbar: {
        container: [
          [{ header: [2, 3, false] }],
          ["bold", "italic", "underline", "strike"],
          [{ list: "ordered" }, { list: "bullet" }],
          ["blockquote", "code-block", "link", "image"],
          ["clean"],
        ],
        handlers: { image: pickImage },
      },
    },
  });
  quill.clipboard.dangerouslyPasteHTML(html.value); // the server's cleaned HTML
  host.hidden = false;
  html.closest("label").hidden = true;

  function pickImage() {
    var input = document.createElement("input");
    input.type = "file";
    input.accept = "image/png,image/jpeg,image/gif,image/webp";
    input.addEventListener("change", function () {
      if (!input.files || !input.files[0]) {
        return;
      }
      var body = new FormData();
      body.append("file", input.files[0]);
      var url = host.dataset.upload + (host.dataset.upload.indexOf("?") < 0 ? "?" : "&") + "json=1";
      fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": host.dataset.csrf },
      })
        .then(function (r) {
          return r.json().then(function (j) {
            if (!r.ok) {
              throw new Error(j.error || r.statusText);
            }
            return j;
          });
        })
        .then(function (j) {
          var at = quill.getSelection(true);
          quill.insertEmbed(at ? at.index : quill.getLength(), "image", j.url, "user");
        })
        .catch(function (e) {
          window.alert(host.dataset.uploadFailed + " " + e.message);
        });
    });
    input.click();
  }

  form.addEventListener("submit", function () {
    // Quill 2.0.3 writes every space as &nbsp; in its semantic HTML: plain spaces again
    html.value = quill.getSemanticHTML().replace(/&nbsp;/g, " ");
  });
})();
