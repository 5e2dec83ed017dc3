// The quiz builder: show the option fields a question's kind uses (true/false: the answer
// radio; the others: the option rows). Without this script every field shows and the
// server reads the ones the kind needs.
"use strict";
(function () {
  function sync(block) {
    var kind = block.querySelector(".question-kind").value;
    block.querySelector(".choice-options").hidden = kind === "true_false";
    block.querySelector(".tf-options").hidden = kind !== "true_false";
  }
  document.querySelectorAll(".question-block").forEach(function (block) {
    sync(block);
    block.querySelector(".question-kind").addEventListener("change", function () {
      sync(block);
    });
  });
})();
