// Keyboard shortcuts for the room's buttons (data-key), and a reload when the room changes.
(function () {
  "use strict";
  var script = document.currentScript;
  var room = script.getAttribute("data-room");
  var seq = script.getAttribute("data-seq");
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    if (event.ctrlKey || event.altKey || event.metaKey) return;
    var button = document.querySelector('button[data-key="' + event.key.toLowerCase() + '"]');
    if (button) {
      event.preventDefault();
      button.click();
    }
  });
  function poll() {
    fetch("/console/rooms/" + room + "/version", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && String(data.seq) !== String(seq)) {
          window.location.replace("/console/rooms/" + room);
        }
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
