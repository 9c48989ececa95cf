"""The rules of the chat, shared by the socket handlers and the REST views."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.hooks import PreSendHooks
from handlers.push import Pusher
from handlers.services.auth import AuthService
from handlers.services.conversations import ConversationService
from handlers.services.files import FileService
from handlers.services.messaging import MessagingService
from handlers.services.reactions import ReactionService
from handlers.services.users import UserService
from settings import Settings
from storage.blobs import BlobStore


@dataclass(frozen=True, slots=True)
class Services:
    auth: AuthService
    users: UserService
    conversations: ConversationService
    messaging: MessagingService
    reactions: ReactionService
    files: FileService

    @classmethod
    def build(cls, db: AsyncEngine, settings: Settings, pusher: Pusher, blobs: BlobStore, hooks: PreSendHooks | None = None) -> "Services":
        conversations = ConversationService(db, settings, pusher)
        return cls(
            auth=AuthService(db, settings),
            users=UserService(db, pusher),
            conversations=conversations,
            messaging=MessagingService(db, settings, pusher, conversations, hooks),
            reactions=ReactionService(db, settings, pusher),
            files=FileService(db, settings, blobs),
        )
