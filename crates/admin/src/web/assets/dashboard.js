// envoi dashboard: the one convenience that needs script, a "select every row" checkbox.
// Everything else works without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("select-all");
  if (!all) {
    return;
  }
  var boxes = function () {
    return document.querySelectorAll("#messages tbody input[type=checkbox][name=id]");
  };
  all.addEventListener("change", function () {
    boxes().forEach(function (box) {
      box.checked = all.checked;
    });
  });
});
