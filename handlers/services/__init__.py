"""The rules of the chat, shared by the socket handlers and the REST views."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.push import Pusher
from handlers.services.auth import AuthService
from handlers.services.conversations import ConversationService
from handlers.services.messaging import MessagingService
from handlers.services.users import UserService
from settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    auth: AuthService
    users: UserService
    conversations: ConversationService
    messaging: MessagingService

    @classmethod
    def build(cls, db: AsyncEngine, settings: Settings, pusher: Pusher) -> "Services":
        conversations = ConversationService(db, settings, pusher)
        return cls(
            auth=AuthService(db, settings),
            users=UserService(db, pusher),
            conversations=conversations,
            messaging=MessagingService(db, settings, pusher, conversations),
        )
