"use strict";
// django-celery-beat's PeriodicTask page shows a crontab in words under the crontab field. Its template does
// this in an inline script, which the Content-Security-Policy refuses; this is the same behaviour from a file
// (loaded by admin/schedules/periodictask_change_form.html).
(function () {
  const data = document.getElementById("readable-crontabs");
  if (!data || typeof django === "undefined" || !django.jQuery) {
    return;
  }
  const $ = django.jQuery;
  const readableCrontabs = JSON.parse(data.textContent);
  const help = $(".field-crontab .help");
  const originalCrontabHelp = help.html() || "";
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    const words = readableCrontabs[$("#id_crontab").val()];
    help.html(originalCrontabHelp).append($("<div>").text("Translation: " + (words || "")));
  });
})();
