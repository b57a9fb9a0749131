// atlascope progressive enhancement. Everything works without this file;
// it only saves clicks. No inline script anywhere (strict CSP).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Release switcher: switch as soon as a release is chosen.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });
})();
