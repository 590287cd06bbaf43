// Copy buttons for the command lines of a page (the port page's firewall lines): one button
// after each <pre data-copy>, added here so a page without scripts shows no button that does nothing.
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("pre[data-copy]").forEach(function (pre) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    var caption = pre.parentNode.querySelector("figcaption");
    button.setAttribute("aria-label", "Copy the lines for " + (caption ? caption.textContent : "this"));
    var status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(pre.textContent).then(
        function () { status.textContent = "Copied."; },
        function () { status.textContent = "Could not copy: select the lines instead."; }
      );
    });
    pre.after(button, status);
  });
})();
