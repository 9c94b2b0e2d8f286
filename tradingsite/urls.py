from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from execution.api.errors import api_not_found
from strategies.report import plotly_js
from tradingsite import views
from tradingsite.health import health

urlpatterns = [
    path("", views.home, name="home"),
    path("overview/state.json", views.overview_state_json, name="overview-state"),
    path(
        "overview/accounts/<int:account_id>/kill-switch/",
        views.kill_switch,
        name="kill-switch",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("health/", health, name="health"),
    path("vendor/plotly.min.js", plotly_js, name="plotly-js"),
    path("accounts/", include("tradingsite.accounts_urls")),
    path("strategies/", include("strategies.urls")),
    path("models/", include("mlmodels.urls")),
    path("copy/", include("copytrading.urls")),
    path("execution/", include("execution.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/trading/", include("execution.api.urls")),
    path("api/v1/ml/", include("mlmodels.api.urls")),
    path("api/v1/strategies/", include("strategies.api.urls")),
    path("api/v1/copytrading/", include("copytrading.api.urls")),
    path("api/v1/auth/", include("accounts.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL: no inline script for the CSP to allow.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    re_path(r"^api/", api_not_found),
]
