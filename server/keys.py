"""Typed keys of everything the application and a request carry."""

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.hooks import PreSendHooks
from handlers.lifecycle import Lifecycle
from handlers.plugin_push import PluginEvents
from handlers.registry import HandlerRegistry
from handlers.services import Services
from handlers.services.tokens import TokenClaims
from server.delivery import Delivery
from server.pipeline import FramePipeline
from server.readiness import Readiness
from server.tracker import ConnectionTracker
from settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", AsyncEngine)
SERVICES = web.AppKey("services", Services)
TRACKER = web.AppKey("tracker", ConnectionTracker)
DELIVERY = web.AppKey("delivery", Delivery)
REGISTRY = web.AppKey("registry", HandlerRegistry)
PIPELINE = web.AppKey("pipeline", FramePipeline)
HOOKS = web.AppKey("hooks", PreSendHooks)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
PLUGIN_ROUTES = web.AppKey("plugin_routes", list)  # of handlers.routes.NamedRoutes
PLUGIN_MIGRATIONS = web.AppKey("plugin_migrations", list)  # of migrations.plugins.PluginMigrations
PLUGIN_EVENTS = web.AppKey("plugin_events", PluginEvents)
READINESS = web.AppKey("readiness", Readiness)

CLAIMS = web.RequestKey("claims", TokenClaims)
