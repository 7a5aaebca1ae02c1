// The copy buttons of the development callback page. A file of its own,
// not inline: the pages' Content-Security-Policy allows no inline script,
// and this page alone allows script from hallpass itself. Without script
// the buttons stay hidden and the tokens can still be selected and copied.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var copied = function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(copied, function () {});
      } else if (document.execCommand("copy")) {
        copied();
      }
    });
  });
});
