/* The console's Copy buttons (templates/admin/links.html). The page works without this script: each
   field is read-only and selectable, to copy by hand. With it, a button copies its field and says so in
   the page's status message, which screen readers announce; when the browser will not copy, the field is
   selected and the message says how to copy it. */
(function () {
  "use strict";
  var status = document.getElementById("copy-status");
  if (!status) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    var name = field.labels && field.labels.length ? field.labels[0].textContent.trim() : "The field";
    function selectField() {
      field.focus();
      field.select();
    }
    function copied() {
      status.textContent = name + ": copied.";
    }
    function refused() {
      selectField();
      status.textContent = name + ": selected. Press Ctrl+C (Command+C on a Mac) to copy it.";
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = "";
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(copied, refused);
      } else {
        refused();
      }
    });
  });
}());
